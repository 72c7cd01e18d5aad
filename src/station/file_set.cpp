#include <ttig/station/file_set.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace ttig::station {

namespace fs = std::filesystem;

// ---- fault injection ---------------------------------------------------------------------------

namespace detail {
namespace {
thread_local int fail_at = 0;
thread_local int op_count = 0;
}  // namespace
void fail_io_at(int n) noexcept {
    fail_at = n;
    op_count = 0;
}
int io_ops() noexcept { return op_count; }
}  // namespace detail

namespace {

// Counts one mutating operation; true when this one must fail.
bool injected_fault() noexcept {
    ++detail::op_count;
    return detail::fail_at > 0 && detail::op_count == detail::fail_at;
}

// ---- names ----------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 4> all_exts{ext_trust, ext_crt, ext_key, ext_uri};
constexpr std::array<category, 2> all_categories{category::cups, category::tc};

std::string_view suffix(variant v) noexcept {
    switch (v) {
        case variant::regular: return "";
        case variant::bak: return "-bak";
        case variant::boot: return "-boot";
        case variant::temp: return "-temp";
    }
    return "";
}

unsigned mode_for(std::string_view ext) noexcept { return ext == ext_key ? 0600u : 0640u; }
constexpr unsigned marker_mode = 0640u;

std::string errno_text(int e) { return std::strerror(e); }

// ---- primitive file operations (POSIX, so that errno reaches the detail) ----------------------

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

bool file_exists(const fs::path& p) noexcept {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

// lstat: rename() replaces a symlink itself, so only a real directory is in the way.
bool is_dir(const fs::path& p) noexcept {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// nullopt when the file does not exist.
result<std::optional<bytes>> read_file(const fs::path& p) {
    fd_guard f{::open(p.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
        if (errno == ENOENT) return std::optional<bytes>{};
        return proto::make_error(station_errc::unreadable, "{}: {}", p.string(), errno_text(errno));
    }
    struct stat st {};
    if (::fstat(f.fd, &st) != 0)
        return proto::make_error(station_errc::unreadable, "{}: {}", p.string(), errno_text(errno));
    if (S_ISDIR(st.st_mode)) return proto::make_error(station_errc::unreadable, "{}: is a directory", p.string());
    constexpr std::size_t max_size = 16u << 20;
    bytes out;
    std::array<std::uint8_t, 8192> buf{};
    for (;;) {
        ssize_t n = ::read(f.fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return proto::make_error(station_errc::unreadable, "{}: {}", p.string(), errno_text(errno));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_size)
            return proto::make_error(station_errc::unreadable, "{}: larger than {} bytes", p.string(), max_size);
        out.insert(out.end(), buf.data(), buf.data() + n);
    }
    return std::optional<bytes>(std::move(out));
}

// Creates (or truncates) p with exactly `mode`, writes data, fsyncs. On failure p is removed.
// Returns an empty string on success, else "<path>: <step>: <errno text>".
std::string write_file(const fs::path& p, byte_view data, unsigned mode) {
    int err = 0;
    const char* step = "open";
    {
        fd_guard f{::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode))};
        if (f.fd < 0) return fmt::format("{}: open: {}", p.string(), errno_text(errno));
        if (::fchmod(f.fd, static_cast<mode_t>(mode)) != 0) {  // independent of the umask
            err = errno;
            step = "chmod";
        }
        std::size_t done = 0;
        while (!err && done < data.size()) {
            ssize_t n = ::write(f.fd, data.data() + done, data.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                err = errno;
                step = "write";
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        if (!err && injected_fault()) {  // after a (possibly partial) write: exercises the cleanup
            err = EIO;
            step = "write";
        }
        if (!err && ::fsync(f.fd) != 0) {
            err = errno;
            step = "fsync";
        }
        if (!err) {
            int fd = f.fd;
            f.fd = -1;
            if (::close(fd) != 0) {
                err = errno;
                step = "close";
            }
        }
    }
    if (!err) return {};
    ::unlink(p.c_str());
    return fmt::format("{}: {}: {}", p.string(), step, errno_text(err));
}

// Deletes p; absent is fine. Empty string on success.
std::string remove_file(const fs::path& p) {
    if (injected_fault()) return fmt::format("{}: unlink: {}", p.string(), errno_text(EIO));
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
        return fmt::format("{}: unlink: {}", p.string(), errno_text(errno));
    return {};
}

std::string rename_file(const fs::path& from, const fs::path& to) {
    if (injected_fault()) return fmt::format("rename {} -> {}: {}", from.string(), to.string(), errno_text(EIO));
    if (::rename(from.c_str(), to.c_str()) != 0)
        return fmt::format("rename {} -> {}: {}", from.string(), to.string(), errno_text(errno));
    return {};
}

// fsync of the directory, so that renames and deletions are durable.
std::string sync_dir(const fs::path& dir, bool checked = true) {
    if (checked && injected_fault()) return fmt::format("{}: fsync: {}", dir.string(), errno_text(EIO));
    fd_guard f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (f.fd < 0) return fmt::format("{}: open: {}", dir.string(), errno_text(errno));
    if (::fsync(f.fd) != 0) return fmt::format("{}: fsync: {}", dir.string(), errno_text(errno));
    return {};
}

std::atomic<unsigned> temp_counter{0};

// A same-directory temp name that never collides with a station file name.
fs::path private_temp(const fs::path& dir, std::string_view final_name) {
    return dir / fmt::format(".{}.ttig-tmp-{}-{}", final_name, ::getpid(), temp_counter.fetch_add(1));
}

std::string trim_end(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.pop_back();
    return s;
}

const std::optional<bytes>* part_of(const cred_set& s, std::string_view ext) {
    if (ext == ext_trust) return &s.trust;
    if (ext == ext_crt) return &s.crt;
    if (ext == ext_key) return &s.key;
    return nullptr;
}

// The bytes to write for `ext`, or nullopt when the set does not carry it.
std::optional<byte_view> payload(const cred_set& s, std::string_view ext) {
    if (ext == ext_uri) {
        if (!s.uri) return std::nullopt;
        return proto::as_bytes(*s.uri);
    }
    const auto* part = part_of(s, ext);
    if (!part || !*part) return std::nullopt;
    return byte_view(**part);
}

result<void> check_uri(const cred_set& s) {
    if (!s.uri) return {};
    if (s.uri->empty()) return proto::make_error(station_errc::bad_uri, "URI is empty");
    for (std::size_t i = 0; i < s.uri->size(); ++i) {
        auto c = static_cast<unsigned char>((*s.uri)[i]);
        if (c <= 0x20 || c == 0x7F)
            return proto::make_error(station_errc::bad_uri, "white space or control character at offset {}", i);
    }
    return {};
}

}  // namespace

// ---- names --------------------------------------------------------------------------------------

std::string_view to_string(category c) noexcept { return c == category::cups ? "cups" : "tc"; }

std::string_view to_string(variant v) noexcept {
    switch (v) {
        case variant::regular: return "regular";
        case variant::bak: return "bak";
        case variant::boot: return "boot";
        case variant::temp: return "temp";
    }
    return "?";
}

std::string_view to_string(auth_mode m) noexcept {
    switch (m) {
        case auth_mode::none: return "none";
        case auth_mode::server_only: return "server_only";
        case auth_mode::token: return "token";
        case auth_mode::mutual_tls: return "mutual_tls";
    }
    return "?";
}

std::string file_name(category c, variant v, std::string_view ext) {
    return fmt::format("{}{}.{}", to_string(c), suffix(v), ext);
}

std::string marker_name(category c, std::string_view which) { return fmt::format("{}-{}", to_string(c), which); }

// ---- cred_set -------------------------------------------------------------------------------------

auth_mode cred_set::auth_mode() const noexcept {
    if (!has_trust()) return auth_mode::none;
    if (!has_crt() && has_key()) return auth_mode::token;
    if (!has_crt() || !has_key()) return auth_mode::server_only;
    return auth_mode::mutual_tls;
}

std::uint32_t cred_set::crc() const noexcept {
    auto view = [](const std::optional<bytes>& b) { return b ? byte_view(*b) : byte_view(); };
    return proto::station_cred_crc(view(trust), view(crt), view(key));
}

// ---- home: reading ------------------------------------------------------------------------------

home::home(fs::path dir) : dir_(std::move(dir)) {}

fs::path home::path_of(category c, variant v, std::string_view ext) const { return dir_ / file_name(c, v, ext); }

result<void> home::check_dir() const {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0)
        return proto::make_error(station_errc::not_a_directory, "{}: {}", dir_.string(), errno_text(errno));
    if (!S_ISDIR(st.st_mode))
        return proto::make_error(station_errc::not_a_directory, "{}: not a directory", dir_.string());
    return {};
}

result<cred_set> home::read(category c, variant v) const {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    cred_set s;
    for (std::string_view ext : all_exts) {
        auto content = read_file(path_of(c, v, ext));
        if (!content) return std::move(content).err();
        if (!*content) continue;
        if (ext == ext_uri) {
            s.uri = trim_end(std::string(proto::as_chars(**content)));
        } else {
            auto& part = ext == ext_trust ? s.trust : ext == ext_crt ? s.crt : s.key;
            part = std::move(**content);
        }
    }
    return s;
}

result<std::uint32_t> home::cred_crc(category c) const {
    auto s = read(c, variant::regular);
    if (!s) return std::move(s).err();
    return s->crc();
}

bool home::marker(category c, std::string_view which) const { return file_exists(dir_ / marker_name(c, which)); }

result<std::optional<std::string>> home::version_txt() const {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    auto content = read_file(dir_ / "version.txt");
    if (!content) return std::move(content).err();
    if (!*content) return std::optional<std::string>{};
    return std::optional<std::string>(trim_end(std::string(proto::as_chars(**content))));
}

result<std::vector<std::uint32_t>> home::sig_key_crcs() const {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    std::vector<std::uint32_t> crcs;
    for (int i = 0;; ++i) {
        auto content = read_file(dir_ / fmt::format("sig-{}.key", i));
        if (!content) return std::move(content).err();
        if (!*content) break;
        crcs.push_back(proto::crc32(**content));
    }
    return crcs;
}

result<selected_set> home::cups_set() const {
    for (variant v : {variant::regular, variant::bak, variant::boot}) {
        auto s = read(category::cups, v);
        if (!s) return std::move(s).err();
        if (s->has_uri()) return selected_set{v, std::move(*s)};
    }
    return proto::make_error(station_errc::no_uri, "none of cups.uri, cups-bak.uri, cups-boot.uri exists in {}",
                             dir_.string());
}

result<selected_set> home::tc_set() const {
    auto s = read(category::tc, variant::regular);
    if (!s) return std::move(s).err();
    if (!s->has_uri())
        return proto::make_error(station_errc::no_uri, "{} does not exist",
                                 path_of(category::tc, variant::regular, ext_uri).string());
    return selected_set{variant::regular, std::move(*s)};
}

// ---- home: writing ------------------------------------------------------------------------------

result<void> home::roll_forward(category c) {
    auto interrupted = [&](const std::string& why) {
        return proto::make_error(station_errc::interrupted, "{}; {} stays and recovery finishes the update", why,
                                 marker_name(c, marker_upd));
    };
    for (std::string_view ext : all_exts) {
        fs::path from = path_of(c, variant::temp, ext);
        if (!file_exists(from)) continue;
        if (auto e = rename_file(from, path_of(c, variant::regular, ext)); !e.empty()) return interrupted(e);
    }
    if (auto e = sync_dir(dir_); !e.empty()) return interrupted(e);
    if (auto e = remove_file(dir_ / marker_name(c, marker_upd)); !e.empty()) return interrupted(e);
    (void)sync_dir(dir_, false);  // best effort, like the station's unchecked sync
    return {};
}

result<void> home::commit_update(category c, const cred_set& staged) {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    if (auto ok = check_uri(staged); !ok) return std::move(ok).err();
    // A station would have finished a pending roll-forward at start, before any update.
    if (marker(c, marker_upd))
        if (auto ok = roll_forward(c); !ok) return std::move(ok).err();

    std::vector<fs::path> written;
    auto fail = [&](const std::string& why) {
        for (const auto& p : written) ::unlink(p.c_str());
        return proto::make_error(station_errc::write_failed, "{}", why);
    };
    // reset: delete <cat>-temp.*
    for (std::string_view ext : all_exts)
        if (auto e = remove_file(path_of(c, variant::temp, ext)); !e.empty()) return fail(e);
    if (staged.empty()) return {};

    // stage
    for (std::string_view ext : all_exts) {
        auto data = payload(staged, ext);
        if (!data) continue;
        fs::path temp = path_of(c, variant::temp, ext);
        written.push_back(temp);
        if (auto e = write_file(temp, *data, mode_for(ext)); !e.empty()) return fail(e);
        fs::path target = path_of(c, variant::regular, ext);
        if (is_dir(target)) return fail(fmt::format("{}: is a directory", target.string()));
    }

    // commit
    fs::path upd = dir_ / marker_name(c, marker_upd);
    written.push_back(upd);
    if (auto e = write_file(upd, {}, marker_mode); !e.empty()) return fail(e);
    if (auto e = sync_dir(dir_); !e.empty()) return fail(e);
    return roll_forward(c);
}

result<void> home::copy_to_bak(category c, bool create_marker) {
    fs::path cpy = dir_ / marker_name(c, marker_cpy);
    if (create_marker) {
        if (auto e = write_file(cpy, {}, marker_mode); !e.empty())
            return proto::make_error(station_errc::write_failed, "{}", e);
    }
    auto interrupted = [&](const std::string& why) {
        return proto::make_error(station_errc::interrupted, "backup of {}: {}; {} stays and recovery redoes the copy",
                                 to_string(c), why, marker_name(c, marker_cpy));
    };
    if (auto e = sync_dir(dir_); !e.empty()) return interrupted(e);
    if (auto e = remove_file(dir_ / marker_name(c, marker_done)); !e.empty()) return interrupted(e);
    for (std::string_view ext : all_exts)
        if (auto e = remove_file(path_of(c, variant::bak, ext)); !e.empty()) return interrupted(e);
    for (std::string_view ext : all_exts) {
        auto content = read_file(path_of(c, variant::regular, ext));
        if (!content) return interrupted(content.err().detail);
        if (!*content) continue;
        fs::path target = path_of(c, variant::bak, ext);
        fs::path temp = private_temp(dir_, file_name(c, variant::bak, ext));
        if (auto e = write_file(temp, **content, mode_for(ext)); !e.empty()) return interrupted(e);
        if (auto e = rename_file(temp, target); !e.empty()) {
            ::unlink(temp.c_str());
            return interrupted(e);
        }
    }
    if (auto e = write_file(dir_ / marker_name(c, marker_done), {}, marker_mode); !e.empty()) return interrupted(e);
    if (auto e = sync_dir(dir_); !e.empty()) return interrupted(e);
    if (auto e = remove_file(cpy); !e.empty()) return interrupted(e);
    (void)sync_dir(dir_, false);
    return {};
}

result<void> home::backup(category c) {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    bool pending = marker(c, marker_cpy);
    if (!pending && marker(c, marker_done)) return {};  // the bak set is the first one that worked
    return copy_to_bak(c, !pending);
}

result<void> home::recover() {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    std::optional<proto::error> first;
    for (category c : all_categories) {
        if (marker(c, marker_upd))
            if (auto ok = roll_forward(c); !ok && !first) first = ok.err();
        if (marker(c, marker_cpy))
            if (auto ok = copy_to_bak(c, false); !ok && !first) first = ok.err();
    }
    if (first) return std::move(*first);
    return {};
}

result<void> home::write_set(category c, variant v, const cred_set& set) {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    if (auto ok = check_uri(set); !ok) return std::move(ok).err();
    struct staged_file {
        fs::path temp, target;
        bool renamed = false;
    };
    std::vector<staged_file> files;
    auto fail = [&](const std::string& why) {
        std::size_t replaced = 0;
        for (const auto& f : files) {
            if (f.renamed)
                ++replaced;
            else
                ::unlink(f.temp.c_str());
        }
        return proto::make_error(
            station_errc::write_failed, "{}{}", why,
            replaced ? fmt::format(" ({} of {} files already replaced)", replaced, files.size()) : std::string());
    };
    for (std::string_view ext : all_exts) {
        auto data = payload(set, ext);
        if (!data) continue;
        fs::path target = path_of(c, v, ext);
        files.push_back({private_temp(dir_, target.filename().string()), target});
        if (auto e = write_file(files.back().temp, *data, mode_for(ext)); !e.empty()) return fail(e);
        if (is_dir(target)) return fail(fmt::format("{}: is a directory", target.string()));
    }
    for (auto& f : files) {
        if (auto e = rename_file(f.temp, f.target); !e.empty()) return fail(e);
        f.renamed = true;
    }
    if (!files.empty())
        if (auto e = sync_dir(dir_); !e.empty()) return fail(e);
    return {};
}

result<void> home::remove_set(category c, variant v) {
    if (auto ok = check_dir(); !ok) return std::move(ok).err();
    for (std::string_view ext : all_exts)
        if (auto e = remove_file(path_of(c, v, ext)); !e.empty())
            return proto::make_error(station_errc::write_failed, "{}", e);
    (void)sync_dir(dir_, false);
    return {};
}

// ---- token ----------------------------------------------------------------------------------------

result<std::string> normalise_token(std::string_view s) {
    std::size_t l = s.size();
    // Trailing empty lines (CRLF or LF) go, as in the station.
    while (l > 0 && s[l - 1] == '\n') l -= (l > 1 && s[l - 2] == '\r') ? 2 : 1;
    if (l == 0) return proto::make_error(station_errc::bad_token, "token is empty");
    auto name_char = [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '_';
    };
    std::string out;
    out.reserve(l + 16);
    std::size_t i = 0;
    for (int line = 1; i < l; ++line) {
        std::size_t start = i;
        while (i < l && name_char(s[i])) ++i;
        if (i == start)
            return proto::make_error(station_errc::bad_token, "line {}: no field name (expected '<name>: <value>')",
                                     line);
        if (i + 1 >= l || s[i] != ':' || s[i + 1] != ' ')
            return proto::make_error(
                station_errc::bad_token,
                "line {}: the field name must be followed by ': ' (name characters: A-Z a-z 0-9 - _)", line);
        out.append(s.substr(start, i - start));
        for (; i < l; ++i) {
            char ch = s[i];
            if (ch == '\0') return proto::make_error(station_errc::bad_token, "line {}: NUL byte", line);
            if (ch == '\n' && s[i - 1] != '\r') out.push_back('\r');
            out.push_back(ch);
            if (ch == '\n') {
                ++i;
                break;
            }
        }
    }
    out += "\r\n";
    return out;
}

}  // namespace ttig::station
