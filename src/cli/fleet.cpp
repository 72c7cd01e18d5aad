// ttigctl fleet: batch re-provisioning and status of many gateways from a manifest (docs/fleet.md).
#include "cli/fleet.hpp"

#include "cli/common.hpp"

namespace ttig::cli {

void setup_fleet(CLI::App& app) {
    auto* f = app.add_subcommand("fleet",
                                 "Batch work on many gateways from a manifest (CSV or JSON, one gateway a row): plan, apply (claim, set\n"
                                 "the Gateway Server address, rotate, move) at the server's rate limit with a resumable journal, status,\n"
                                 "report. See docs/fleet.md.");
    f->require_subcommand(1);
    setup_fleet_plan(*f);
    setup_fleet_apply(*f);
    setup_fleet_status(*f);
}

}  // namespace ttig::cli
