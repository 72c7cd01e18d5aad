// Shared pieces of the subcommands: exit codes, output, error reporting.
#pragma once

#include <ttig/proto/error.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace ttig::cli {

// docs/exit-codes.md is the one table; these names mirror it.
enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,
    exit_no_uri = 2,
    exit_timeout = 3,
    exit_rejected = 4,
    exit_closed = 5,
    exit_tls = 6,
    exit_protocol = 7,
    exit_local_io = 8,
    exit_partial = 9,
    exit_api_unreachable = 12,  // the TTS API cannot be reached or refuses our credentials
    exit_pending = 13,          // rotate/claim: waiting for the station (pending-check-in), resumable
    exit_refused_cause = 14,    // claim/rotate refused by TTS for a named cause (id in the error line)
    exit_usage = 64,  // bad input named on the command line (a value CLI11 could not check)
};

// Options every subcommand has.
struct global_options {
    bool json = false;
};

// Adds --json to a subcommand.
void add_json_flag(CLI::App& sub, bool& json);

// Prints an error as one line on stderr ("ttigctl <sub>: [id] message: detail"), or as
// {"error":{"id":...,"message":...}} on stdout with --json, and returns `code`.
int report_error(std::string_view sub, const proto::error& e, int code, bool json);
int report_error(std::string_view sub, std::string_view id, std::string_view message, int code, bool json);

// Exit code for an error id's domain (eui/cups/tc/blob -> protocol or usage, station/pki -> local I/O...).
int exit_code_for(const proto::error& e);

// Writes `j` to stdout, one line, followed by a newline.
void print_json(const nlohmann::ordered_json& j);

// Reads a whole file; an error names the path.
proto::result<std::string> read_file(const std::filesystem::path& p, std::string_view what);

// True when stdout is a terminal (colour, progress).
bool stdout_is_tty();

// Subcommand registration: each src/cli/<sub>.cpp defines one of these.
void setup_eui(CLI::App& app);
void setup_creds(CLI::App& app);
void setup_lab(CLI::App& app);
void setup_doctor(CLI::App& app);
void setup_emulate(CLI::App& app);
void setup_emulate_station(CLI::App& emulate);  // called by setup_emulate
void setup_claim(CLI::App& app);
void setup_rotate(CLI::App& app);
void setup_serve(CLI::App& app);
void setup_fleet(CLI::App& app);  // fleet.cpp; its subcommands in fleet_*.cpp

}  // namespace ttig::cli
