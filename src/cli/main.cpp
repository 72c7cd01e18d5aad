// ttigctl: re-provision and diagnose The Things Indoor Gateway and other LoRa Basics Station
// gateways on The Things Stack.
#include "cli/common.hpp"

#include <fmt/format.h>

#include <exception>

int main(int argc, char** argv) {
    CLI::App app{
        "ttigctl — provision, diagnose and emulate LoRa Basics Station gateways (The Things Indoor Gateway and\n"
        "others) on The Things Stack. Run `ttigctl lab` for a tour that needs no hardware and no account.",
        "ttigctl"};
    app.set_version_flag("--version", fmt::format("ttigctl {} (Basics Station protocol 2, targets lorawan-stack v3.32.1 "
                                                  "and basicstation v2.0.6)", TTIG_VERSION));
    app.require_subcommand(1);
    app.fallthrough(false);
    ttig::cli::setup_eui(app);
    ttig::cli::setup_creds(app);
    ttig::cli::setup_doctor(app);
    ttig::cli::setup_claim(app);
    ttig::cli::setup_rotate(app);
    ttig::cli::setup_serve(app);
    ttig::cli::setup_fleet(app);
    ttig::cli::setup_emulate(app);
    ttig::cli::setup_lab(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // Subcommands report their own failures by throwing CLI::RuntimeError(code) after printing.
        if (dynamic_cast<const CLI::RuntimeError*>(&e)) return e.get_exit_code();
        return app.exit(e);
    } catch (const std::exception& e) {
        fmt::print(stderr, "ttigctl: [cli.internal] unexpected failure: {}\n", e.what());
        return ttig::cli::exit_failed;
    }
    return 0;
}
