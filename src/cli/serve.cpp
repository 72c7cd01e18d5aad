// Placeholder while `ttigctl serve` is being written; replaced by the real subcommand.
#include "cli/common.hpp"

namespace ttig::cli {
void setup_serve(CLI::App&) {}
}  // namespace ttig::cli
