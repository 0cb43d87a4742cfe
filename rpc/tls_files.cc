#include "rpc/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

std::string read_file(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  MLA_ENSURE(in.good(), kInvalidArgument, flag, " ", path, ": cannot read the file");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::unique_ptr<X509, X509Free> parse_certificate(const std::string& pem, const char* flag,
                                                  const std::string& path) {
  auto bio = memory_bio(pem);
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();  // leave OpenSSL's queue empty for gRPC's own TLS code
  MLA_ENSURE(cert != nullptr, kInvalidArgument, flag, " ", path,
             ": not a PEM certificate (expected -----BEGIN CERTIFICATE-----)");
  return cert;
}

}  // namespace

TlsKeyPair load_tls_key_pair(const std::string& cert_file, const std::string& key_file) {
  TlsKeyPair pair{read_file(cert_file, "--tls-cert"), read_file(key_file, "--tls-key")};
  const auto cert = parse_certificate(pair.cert_pem, "--tls-cert", cert_file);
  auto bio = memory_bio(pair.key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  MLA_ENSURE(key != nullptr, kInvalidArgument, "--tls-key ", key_file,
             ": not an unencrypted PEM private key");
  const bool matches = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  MLA_ENSURE(matches, kInvalidArgument, "--tls-key ", key_file,
             " is not the private key of --tls-cert ", cert_file);
  return pair;
}

std::string load_tls_roots(const std::string& ca_file) {
  std::string pem = read_file(ca_file, "--tls-ca");
  parse_certificate(pem, "--tls-ca", ca_file);
  return pem;
}

}  // namespace mlaserve::rpc
