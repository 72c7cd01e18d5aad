// A Basics Station home directory: credential sets, transaction markers, atomic updates.
//
// Protocol doc §3.1-3.4 (BS src/sys.c). File names are exactly the station's:
//   {cups,tc}{,-bak,-boot,-temp}.{uri,trust,crt,key}
//   {cups,tc}-temp.upd  (temp -> regular renames in progress)
//   {cups,tc}-temp.cpy  (regular -> bak copy in progress)
//   {cups,tc}-bak.done  (bak set valid)
//   sig-N.key, version.txt
// Reading is faithful to the station (raw bytes, URI with trailing white space trimmed, an empty
// file counts as absent for the CRC and the auth mode). Writing follows the station's
// transaction protocol so that a station (or recover()) finishes an interrupted update.
#pragma once

#include <ttig/proto/bytes.hpp>
#include <ttig/proto/error.hpp>
#include <ttig/station/error.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::station {

using proto::byte_view;
using proto::bytes;
using proto::result;

enum class category { cups, tc };
enum class variant { regular, bak, boot, temp };
// Station auth modes (§2.3, BS sys_cred: SYS_AUTH_NONE/SERVER/TOKEN/BOTH).
enum class auth_mode { none, server_only, token, mutual_tls };

std::string_view to_string(category c) noexcept;   // "cups", "tc"
std::string_view to_string(variant v) noexcept;    // "regular", "bak", "boot", "temp"
std::string_view to_string(auth_mode m) noexcept;  // "none", "server_only", "token", "mutual_tls"

// File extensions, in the station's processing order (FN_TRUST, FN_CRT, FN_KEY, FN_URI).
inline constexpr std::string_view ext_trust = "trust";
inline constexpr std::string_view ext_crt = "crt";
inline constexpr std::string_view ext_key = "key";
inline constexpr std::string_view ext_uri = "uri";

// Marker suffixes for marker_name() / home::marker().
inline constexpr std::string_view marker_upd = "temp.upd";
inline constexpr std::string_view marker_cpy = "temp.cpy";
inline constexpr std::string_view marker_done = "bak.done";

// "cups.uri", "cups-bak.trust", "tc-boot.crt", "tc-temp.key".
std::string file_name(category c, variant v, std::string_view ext);
// "<cat>-<which>": marker_name(category::tc, marker_upd) == "tc-temp.upd".
std::string marker_name(category c, std::string_view which);

// One credential set. nullopt = file absent; an empty vector = file present but empty.
struct cred_set {
    std::optional<std::string> uri;  // trailing " \t\r\n" trimmed, as the station reads it
    std::optional<bytes> trust, crt, key;

    // The station's notion of presence: a URI file that exists (even empty: BS sys_uri), and
    // credential files that exist and are not empty (BS sys_cred).
    bool has_uri() const noexcept { return uri.has_value(); }
    bool has_trust() const noexcept { return trust && !trust->empty(); }
    bool has_crt() const noexcept { return crt && !crt->empty(); }
    bool has_key() const noexcept { return key && !key->empty(); }
    // No file of the set at all.
    bool empty() const noexcept { return !uri && !trust && !crt && !key; }

    // §2.3: no trust -> none; key without crt -> token; crt and key -> mutual_tls; else server_only.
    station::auth_mode auth_mode() const noexcept;
    // §2.4: CRC-32 chained over trust, crt, key raw bytes, 4 zero bytes for an absent/empty part.
    std::uint32_t crc() const noexcept;

    friend bool operator==(const cred_set&, const cred_set&) = default;
};

// A set chosen the way the station chooses it (§3.4).
struct selected_set {
    variant which = variant::regular;
    cred_set set;
};

class home {
public:
    explicit home(std::filesystem::path dir);

    const std::filesystem::path& dir() const noexcept { return dir_; }
    std::filesystem::path path_of(category c, variant v, std::string_view ext) const;

    // ---- reading ------------------------------------------------------------------------------
    // Errors: station.not_a_directory (home missing), station.unreadable (file present but not
    // readable, or a directory).
    result<cred_set> read(category c, variant v) const;
    // CRC of the regular set over the raw file bytes, exactly as the station reports it
    // (cupsCredCrc / tcCredCrc). An unreadable file is an error here (the station would count it
    // as absent).
    result<std::uint32_t> cred_crc(category c) const;
    // Whether the marker file "<cat>-<which>" exists (which: marker_upd, marker_cpy, marker_done).
    bool marker(category c, std::string_view which) const;
    // version.txt with trailing white space trimmed ("package" in update-info); nullopt if absent.
    result<std::optional<std::string>> version_txt() const;
    // CRC-32 of each sig-0.key, sig-1.key, ... up to the first missing index ("keys" in update-info).
    result<std::vector<std::uint32_t>> sig_key_crcs() const;
    // The CUPS set the station tries first: regular, bak, boot, the first whose .uri exists.
    // station.no_uri when none has one.
    result<selected_set> cups_set() const;
    // The TC set: always the regular one (v2.0.6). station.no_uri when tc.uri is absent.
    result<selected_set> tc_set() const;

    // ---- writing ------------------------------------------------------------------------------
    // What the station does with a CUPS update for one category (§3.2): finish a pending
    // roll-forward if "<cat>-temp.upd" exists; delete "<cat>-temp.*"; write the present parts of
    // `staged` to "<cat>-temp.*" (an empty vector becomes an empty file, nullopt leaves the
    // regular file untouched); create "<cat>-temp.upd"; sync; rename each temp file onto its
    // regular name; sync; delete the marker. With an empty `staged` only the first two steps run.
    // Modes: .key 0600, other files 0640.
    // Errors: station.bad_uri (empty URI or one with white space), station.write_failed (before
    // the marker exists: temp files removed, regular set unchanged), station.interrupted (after
    // the marker exists: the marker and remaining temp files stay; recover() or the station's next
    // start completes the update).
    result<void> commit_update(category c, const cred_set& staged);

    // Station start (§3.2 "recovery at start", BS checkRollForward), for both categories: a
    // "<cat>-temp.upd" marker -> finish the renames and delete it; a "<cat>-temp.cpy" marker ->
    // redo the backup. Returns the first error after trying everything.
    result<void> recover();

    // §3.3 backup: skipped while "<cat>-bak.done" exists (unless "<cat>-temp.cpy" says a copy
    // was interrupted). Otherwise: create "<cat>-temp.cpy", delete "<cat>-bak.done" and the old
    // bak files, copy each existing regular file to its bak name, create "<cat>-bak.done",
    // delete the .cpy marker. Errors: station.write_failed (the .cpy marker could not be
    // created; nothing changed), station.interrupted (later; the .cpy marker stays and the next
    // backup()/recover() redoes the copy).
    result<void> backup(category c);

    // Writes the present parts of `set` as the given variant directly (no markers): every part
    // goes to a same-directory temp file first, then all are renamed into place. nullopt parts
    // are left untouched. On error every temp file is removed (station.write_failed, bad_uri).
    result<void> write_set(category c, variant v, const cred_set& set);

    // Deletes the four files of a set (absent files are fine). station.write_failed.
    result<void> remove_set(category c, variant v);

private:
    result<void> check_dir() const;
    result<void> roll_forward(category c);
    result<void> copy_to_bak(category c, bool create_marker);

    std::filesystem::path dir_;
};

// §2.5 (BS net.c validateAuthToken): trailing empty lines removed, every bare LF turned into
// CRLF, a final CRLF appended. Each line must be "<name>: <value>" with name from [A-Za-z0-9_-]
// followed by exactly ": ". Error station.bad_token naming the line (never its content).
// normalise_token("Authorization: NNSXS.X\n") == "Authorization: NNSXS.X\r\n".
result<std::string> normalise_token(std::string_view text);

namespace detail {
// Fault injection for tests: every mutating file operation (create+write, rename, delete,
// directory sync) of this thread is counted from the last call; operation number n (1-based)
// fails with EIO. n = 0 disables injection (and still resets the count).
void fail_io_at(int n) noexcept;
// Mutating file operations counted on this thread since the last fail_io_at().
int io_ops() noexcept;
}  // namespace detail

}  // namespace ttig::station
