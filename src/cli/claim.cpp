// Placeholder while `ttigctl claim` is being written; replaced by the real subcommand.
#include "cli/common.hpp"

namespace ttig::cli {
void setup_claim(CLI::App&) {}
}  // namespace ttig::cli
