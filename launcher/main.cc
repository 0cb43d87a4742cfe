#include "launcher/main_app.h"

int main(int argc, char** argv) { return mlaserve::run_main(argc, argv); }
