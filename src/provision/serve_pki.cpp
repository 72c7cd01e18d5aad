// serve: the CA and server certificate in the state directory (made once, keys 0600, reused).
#include <ttig/provision/serve.hpp>

#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/pki/x509.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ttig::provision {

namespace fs = std::filesystem;

namespace {

proto::error dir_error(std::string detail) { return proto::make_error(serve_errc::state_dir, std::move(detail)); }

// Writes through a same-directory temp file created with `mode`, then renames it into place.
proto::result<void> write_file(const fs::path& path, std::string_view data, mode_t mode) {
    const std::string tmp = path.string() + ".tmp";
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return dir_error(fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
    std::size_t off = 0;
    while (off < data.size()) {
        const auto n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            return dir_error(fmt::format("cannot write {}: {}", tmp, std::strerror(err)));
        }
        off += static_cast<std::size_t>(n);
    }
    ::fchmod(fd, mode);  // the umask may have taken bits away; never adds any for keys (0600)
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        return dir_error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return dir_error(fmt::format("cannot rename {} to {}: {}", tmp, path.string(), std::strerror(err)));
    }
    return {};
}

proto::result<std::string> read_text(const fs::path& path, bool secret) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return dir_error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    if (secret && (st.st_mode & 077) != 0)
        return dir_error(fmt::format("{}: mode {:03o} lets other users read the key; run chmod 600 {}", path.string(), st.st_mode & 0777, path.string()));
    auto b = pki::load_file(path);
    if (!b) return dir_error(fmt::format("cannot read {}: {}", path.string(), b.err().what()));
    return std::string(proto::as_chars(*b));
}

std::string names_text(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += n + "\n";
    return s;
}

}  // namespace

proto::result<serve_pki> prepare_pki(const fs::path& state_dir, std::vector<std::string> names) {
    if (state_dir.empty()) return dir_error("no state directory");
    std::error_code ec;
    if (!fs::exists(state_dir, ec)) {
        fs::create_directories(state_dir, ec);
        if (ec) return dir_error(fmt::format("cannot create {}: {}", state_dir.string(), ec.message()));
        ::chmod(state_dir.c_str(), 0700);
    } else if (!fs::is_directory(state_dir, ec)) {
        return dir_error(fmt::format("{} is not a directory", state_dir.string()));
    }
    // SANs: unique, in the order given.
    std::vector<std::string> sans;
    for (auto& n : names)
        if (!n.empty() && std::find(sans.begin(), sans.end(), n) == sans.end()) sans.push_back(std::move(n));
    if (sans.empty()) return dir_error("no name for the server certificate");

    serve_pki out;
    out.names = sans;
    out.ca_file = fs::absolute(state_dir / "ca.pem", ec);
    const fs::path ca_key = state_dir / "ca.key", srv_pem = state_dir / "server.pem", srv_key = state_dir / "server.key",
                   srv_names = state_dir / "server.names";

    pki::key_and_cert ca;
    const bool have_pem = fs::exists(out.ca_file, ec), have_key = fs::exists(ca_key, ec);
    if (have_pem != have_key)
        return dir_error(fmt::format("{} holds {} without {}; remove both to make a new CA (stations trusting the old one need the new ca.pem)",
                                     state_dir.string(), have_pem ? "ca.pem" : "ca.key", have_pem ? "ca.key" : "ca.pem"));
    if (have_pem) {
        auto pem = read_text(out.ca_file, false);
        if (!pem) return pem.err();
        auto key = read_text(ca_key, true);
        if (!key) return key.err();
        auto der = pki::certificate_der(proto::as_bytes(*pem));
        if (!der) return dir_error(fmt::format("{}: {}", out.ca_file.string(), der.err().what()));
        auto kder = pki::private_key_der(proto::as_bytes(*key));
        if (!kder) return dir_error(fmt::format("{}: {}", ca_key.string(), kder.err().what()));
        ca.cert_pem = std::move(*pem);
        ca.cert_der = std::move(*der);
        ca.key_pem = std::move(*key);
        ca.key_der = std::move(*kder);
    } else {
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        auto made = pki::make_ca(fmt::format("ttigctl serve CA ({})", host[0] ? host : "localhost"));
        if (!made) return made.err();
        ca = std::move(*made);
        if (auto w = write_file(ca_key, ca.key_pem, 0600); !w) return w.err();
        if (auto w = write_file(out.ca_file, ca.cert_pem, 0644); !w) return w.err();
        out.ca_created = true;
    }
    out.ca_pem = ca.cert_pem;
    out.ca_der = ca.cert_der;

    // The server certificate: reused while it fits.
    const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    bool reuse = !out.ca_created && fs::exists(srv_pem, ec) && fs::exists(srv_key, ec) && fs::exists(srv_names, ec);
    if (reuse) {
        auto nm = read_text(srv_names, false);
        auto pem = read_text(srv_pem, false);
        auto key = read_text(srv_key, true);
        if (!key) return key.err();  // a readable-by-others key is refused, not silently replaced
        reuse = nm && pem && *nm == names_text(sans);
        if (reuse) {
            auto info = pki::inspect_certificate(proto::as_bytes(*pem));
            auto ca_info = pki::inspect_certificate(out.ca_der);
            reuse = info && ca_info && info->issuer == ca_info->subject && !pki::expired_at(*info, now_unix + 30 * 86400) &&
                    !pki::not_yet_valid_at(*info, now_unix + 300);
        }
        if (reuse) {
            out.server_cert_pem = std::move(*pem);
            out.server_key_pem = std::move(*key);
        }
    }
    if (!reuse) {
        auto leaf = pki::make_leaf(ca, "ttigctl serve", sans, pki::key_kind::ec_p256, 825);
        if (!leaf) return leaf.err();
        if (auto w = write_file(srv_key, leaf->key_pem, 0600); !w) return w.err();
        if (auto w = write_file(srv_pem, leaf->cert_pem, 0644); !w) return w.err();
        if (auto w = write_file(srv_names, names_text(sans), 0644); !w) return w.err();
        out.server_cert_pem = std::move(leaf->cert_pem);
        out.server_key_pem = std::move(leaf->key_pem);
        out.server_created = true;
    }
    return out;
}

}  // namespace ttig::provision
