// A fleet manifest: one gateway a row, in CSV or JSON (docs/fleet.md). Validation reports every
// error at once, each with its file and line, before any API call is made.
//
// CSV: a header row names the columns (any order; unknown columns are an error):
//   eui | code        TTIG label code or EUI in any form (required unless only actions on an existing gateway_id)
//   gateway_id        required
//   frequency_plan    one plan ID, or several separated by '|'
//   cluster           Gateway Server address (host[:port]) the gateway should use
//   actions           '|'-separated: claim, set-gs (gateway_server_address := cluster), rotate-cups,
//                     rotate-lns, rotate (= both), move (= set-gs through rotate-lns with --move-to)
//   owner_token       the claim's owner token (only if the manifest file itself is 0600), or empty
// JSON: {"gateways":[{"eui":…,"gateway_id":…,"frequency_plan":[…] or "…","cluster":…,"actions":[…],"owner_token":…}]}
// (line = the 1-based index of the object for JSON; errors name "file:#index").
//
// Owner tokens may also come from a separate 0600 file (`--owner-tokens FILE`): CSV "eui,owner_token"
// lines. Tokens are never echoed: errors name the row, never the value.
#pragma once

#include <ttig/proto/eui.hpp>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::fleet {

enum class action { claim, set_gs, rotate_cups, rotate_lns, move };
std::string_view to_string(action a) noexcept;

struct manifest_row {
    std::string file;
    std::size_t line = 0;              // CSV: the file's line number; JSON: 1-based index
    std::optional<proto::eui64> eui;
    std::string gateway_id;
    std::vector<std::string> frequency_plan_ids;
    std::string cluster;               // Gateway Server address, or empty
    std::set<action> actions;
    std::string owner_token;           // a secret; empty unless given
    bool json = false;                 // read from a JSON manifest: `line` is the object's index
    std::string where() const;         // "file:line" (JSON: "file:#index")
};

struct manifest_error {
    std::string file;
    std::size_t line = 0;  // 0: the file as a whole
    std::string column;    // may be empty
    std::string message;   // one line; never contains a token
    bool json = false;     // `line` is a JSON object's 1-based index ("file:#index")
    std::string text() const;  // "file:line: column: message" ("file: message" when line is 0 and no column)
};

struct manifest {
    std::vector<manifest_row> rows;
    std::vector<manifest_error> errors;  // every problem found; rows are unusable when non-empty
    bool ok() const noexcept { return errors.empty(); }
};

struct manifest_options {
    std::string owner_tokens_file;  // optional "eui,owner_token" CSV (must be 0600)
    bool check_file_modes = true;   // a manifest with owner_token values must be 0600
};

// Reads and validates the manifest (CSV by extension .csv, JSON by .json, else by content).
// Checks: columns, EUI forms, gateway ID pattern, duplicate EUIs and IDs, actions known, claim rows
// have an EUI, a plan and an owner token, set-gs/move rows have a cluster, file modes.
manifest read_manifest(const std::string& path, const manifest_options& options = {});

// The same checks on text already read (`name` is used in errors as the file; no mode checks on it,
// `has_secure_mode` stands for the file's 0600). For tests and for manifests from stdin.
manifest parse_manifest(std::string_view text, const std::string& name, bool json, const manifest_options& options = {},
                        bool has_secure_mode = true);

// Writing a manifest (fleet export): CSV with the header "eui,gateway_id,frequency_plan,cluster,actions,owner_token"
// (fields quoted when needed) or JSON {"gateways":[…]}. Owner tokens are never written.
enum class manifest_format { csv, json };
manifest_format format_for_path(std::string_view path) noexcept;  // ".json" (any case): json; else csv
std::string format_manifest(const std::vector<manifest_row>& rows, manifest_format format);

// The action names as written in manifests: "claim", "set-gs", "rotate-cups", "rotate-lns", "move"
// ("rotate" is read as rotate-cups + rotate-lns). nullopt for an unknown name.
std::optional<action> parse_action(std::string_view name) noexcept;

}  // namespace ttig::fleet
