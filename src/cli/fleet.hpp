// ttigctl fleet: its subcommands, one file each (fleet_<name>.cpp).
#pragma once

#include <CLI/CLI.hpp>

namespace ttig::cli {

void setup_fleet_plan(CLI::App& fleet);    // fleet plan, fleet export (fleet_plan.cpp)
void setup_fleet_apply(CLI::App& fleet);   // fleet apply, fleet rollback (fleet_apply.cpp)
void setup_fleet_status(CLI::App& fleet);  // fleet status, fleet report (fleet_status.cpp)

}  // namespace ttig::cli
