// The API connection options shared by the commands that call The Things Stack (claim, rotate,
// serve's hand-over, later fleet): --tts, the API key (file or environment, never required on argv),
// --resolve, --ca, --insecure, --timeout; and secret files (owner tokens, keys) checked for 0600.
#pragma once

#include <ttig/proto/error.hpp>
#include <ttig/tts/client.hpp>

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ttig::cli {

// A refusal of the command line or a local file: the error id, the one-line message, the exit code.
struct cli_failure {
    std::string id;  // cli.bad_option, cli.local_io, cli.insecure_file
    std::string message;
    int exit = 64;
};
template <class T>
using cli_result = proto::basic_result<T, cli_failure>;
// Prints it (report_error) and returns its exit code.
int report(std::string_view sub, const cli_failure& f, bool json);

struct api_cli_options {
    std::string tts;  // empty: env TTIGCTL_TTS, else https://eu1.cloud.thethings.network
    std::string api_key;
    std::string api_key_file;
    std::vector<std::string> resolve;
    std::vector<std::string> ca;
    bool insecure = false;
    double timeout_s = 15;  // per request
};

// Adds --tts, --api-key, --api-key-file, --resolve, --ca, --insecure, --timeout. `rights` names the
// rights the key needs, for --api-key-file's help.
void add_api_options(CLI::App& sub, api_cli_options& o, std::string_view rights);

// Resolves the defaults (environment) and builds the client options; warns on stderr about
// --insecure and about a key given on argv. Errors: cli.bad_option (usage), cli.local_io (files).
cli_result<tts::client_options> make_client_options(std::string_view sub, api_cli_options& o, std::string_view user_agent);

// Reads a secret from a file: trailing white space and an "Authorization: " prefix removed. A
// file that group or others can read is refused (cli.insecure_file), unless `allow_loose`.
cli_result<std::string> read_secret_file(const std::string& path, std::string_view what, bool allow_loose = false);

// A secret from a file option, else an environment variable, else an argv option (warned about:
// other local users can read argv). Empty when none is given.
cli_result<std::string> secret_from(std::string_view sub, const std::string& file, std::string_view file_flag, const char* env,
                                       const std::string& argv_value, std::string_view argv_flag);

}  // namespace ttig::cli
