// TLS contexts (OpenSSL 3) and the mapping of handshake failures to tls ids.
#include "net/detail.hpp"

#include <ttig/pki/pem.hpp>

#include <fmt/format.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>

namespace ttig::net {

std::string_view to_string(tls_version v) noexcept { return v == tls_version::tls1_3 ? "TLSv1.3" : "TLSv1.2"; }

namespace detail {

namespace {

int openssl_version(tls_version v) { return v == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

std::string reason() {
    std::string r = pki::detail::openssl_reason();
    ERR_clear_error();
    return r;
}

proto::error bad_config(std::string what) {
    std::string r = reason();
    if (!r.empty()) what += ": " + r;
    return proto::make_error(tls_errc::bad_config, std::move(what));
}

struct x509_deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

proto::result<x509_ptr> parse_der(const proto::bytes& der) {
    ERR_clear_error();
    const unsigned char* p = der.data();
    x509_ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x) return bad_config("cannot decode certificate");
    return x;
}

// Adds every certificate of a PEM bundle (or one DER certificate) to the store.
proto::result<void> add_trust(X509_STORE* store, proto::byte_view data, std::string_view where) {
    auto chain = pki::certificate_chain(data);
    if (!chain) return proto::make_error(tls_errc::bad_config, "{}: {}", where, chain.err().what());
    for (const auto& der : *chain) {
        auto x = parse_der(der);
        if (!x) return proto::make_error(tls_errc::bad_config, "{}: {}", where, x.err().detail);
        ERR_clear_error();
        if (X509_STORE_add_cert(store, x->get()) != 1) {
            // A duplicate is harmless; anything else is not.
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) return bad_config(fmt::format("{}: cannot add trust anchor", where));
            ERR_clear_error();
        }
    }
    return {};
}

proto::result<void> set_versions(SSL_CTX* ctx, tls_version min, tls_version max) {
    if (openssl_version(min) > openssl_version(max))
        return proto::make_error(tls_errc::bad_config, "minimum TLS version {} is above the maximum {}", to_string(min), to_string(max));
    if (SSL_CTX_set_min_proto_version(ctx, openssl_version(min)) != 1 || SSL_CTX_set_max_proto_version(ctx, openssl_version(max)) != 1)
        return bad_config("cannot set TLS versions");
    return {};
}

// Certificate chain (leaf first) and key from PEM (DER accepted too, through pki).
proto::result<void> use_identity(SSL_CTX* ctx, const std::string& chain_pem, const std::string& key_pem, std::string_view who) {
    auto chain = pki::certificate_chain(proto::as_bytes(chain_pem));
    if (!chain) return proto::make_error(tls_errc::bad_config, "{} certificate: {}", who, chain.err().what());
    auto key_der = pki::private_key_der(proto::as_bytes(key_pem));
    if (!key_der) return proto::make_error(tls_errc::bad_config, "{} key: {}", who, key_der.err().what());
    x509_ptr leaf;
    for (const auto& der : *chain) {
        auto x = parse_der(der);
        if (!x) return std::move(x).err();
        ERR_clear_error();
        if (!leaf) {
            if (SSL_CTX_use_certificate(ctx, x->get()) != 1) return bad_config(fmt::format("{} certificate rejected", who));
            leaf = std::move(*x);
        } else if (SSL_CTX_add1_chain_cert(ctx, x->get()) != 1) {
            return bad_config(fmt::format("{} chain certificate rejected", who));
        }
    }
    ERR_clear_error();
    const unsigned char* p = key_der->data();
    EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(key_der->size()));
    if (!key) return bad_config(fmt::format("{} key cannot be decoded", who));
    if (X509_check_private_key(leaf.get(), key) != 1) {
        EVP_PKEY_free(key);
        return bad_config(fmt::format("{} key does not match its certificate", who));
    }
    const int ok = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (ok != 1) return bad_config(fmt::format("{} key rejected", who));
    return {};
}

void common_setup(SSL_CTX* ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
}

ssl_ctx_ptr wrap(SSL_CTX* ctx) { return ssl_ctx_ptr(ctx, [](SSL_CTX* c) { SSL_CTX_free(c); }); }

}  // namespace

proto::result<ssl_ctx_ptr> make_server_ctx(const tls_server_config& cfg) {
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (!raw) return bad_config("SSL_CTX_new failed");
    auto ctx = wrap(raw);
    common_setup(raw);
    SSL_CTX_set_options(raw, SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Stateless resumption (tickets) only: no per-session state kept by the server.
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
    if (auto r = set_versions(raw, cfg.min_version, cfg.max_version); !r) return std::move(r).err();
    if (cfg.cert_chain_pem.empty() || cfg.key_pem.empty())
        return proto::make_error(tls_errc::bad_config, "a TLS listener needs a certificate chain and a key");
    if (auto r = use_identity(raw, cfg.cert_chain_pem, cfg.key_pem, "server"); !r) return std::move(r).err();
    return ctx;
}

proto::result<ssl_ctx_ptr> make_client_ctx(const tls_client_config& cfg) {
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
    if (!raw) return bad_config("SSL_CTX_new failed");
    auto ctx = wrap(raw);
    common_setup(raw);
    if (auto r = set_versions(raw, cfg.min_version, cfg.max_version); !r) return std::move(r).err();
    SSL_CTX_set_verify(raw, cfg.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    if (cfg.max_chain_depth >= 0) SSL_CTX_set_verify_depth(raw, cfg.max_chain_depth);
    if (cfg.max_chain_bytes > 0) {
        if (cfg.max_chain_bytes > 1u << 30)
            return proto::make_error(tls_errc::bad_config, "max_chain_bytes {} is above 1 GiB", cfg.max_chain_bytes);
        SSL_CTX_set_max_cert_list(raw, static_cast<long>(cfg.max_chain_bytes));
    }
    X509_STORE* store = SSL_CTX_get_cert_store(raw);
    if (cfg.use_system_store && SSL_CTX_set_default_verify_paths(raw) != 1) return bad_config("cannot load the system trust store");
    ERR_clear_error();
    for (const auto& f : cfg.ca_files) {
        auto data = pki::load_file(f);
        if (!data) return proto::make_error(tls_errc::bad_config, "--ca {}: {}", f.string(), data.err().what());
        if (auto r = add_trust(store, *data, fmt::format("--ca {}", f.string())); !r) return std::move(r).err();
    }
    for (std::size_t i = 0; i < cfg.ca_pem.size(); ++i)
        if (auto r = add_trust(store, proto::as_bytes(cfg.ca_pem[i]), fmt::format("trust anchor {}", i)); !r) return std::move(r).err();
    if (!cfg.trust_dir.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(cfg.trust_dir, ec))
            return proto::make_error(tls_errc::bad_config, "trust directory {} is not a directory", cfg.trust_dir.string());
        std::vector<std::filesystem::path> files;
        for (const auto& de : std::filesystem::directory_iterator(cfg.trust_dir, ec))
            if (de.path().extension() == ".pem" && de.is_regular_file(ec)) files.push_back(de.path());
        if (ec) return proto::make_error(tls_errc::bad_config, "trust directory {}: {}", cfg.trust_dir.string(), ec.message());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            auto data = pki::load_file(f);
            if (!data) return proto::make_error(tls_errc::bad_config, "{}", data.err().what());
            if (auto r = add_trust(store, *data, f.string()); !r) return std::move(r).err();
        }
    }
    if (!cfg.cert_chain_pem.empty() || !cfg.key_pem.empty()) {
        if (auto r = use_identity(raw, cfg.cert_chain_pem, cfg.key_pem, "client"); !r) return std::move(r).err();
    }
    return ctx;
}

// Building a client context costs milliseconds (the system trust store alone is ~140 PEM
// certificates to decode), and a fleet run or a doctor run makes many clients with the same
// settings: contexts are shared while a client holds them, and the last few are kept.
namespace {

// What makes two client contexts the same, as a SHA-256 (no key material kept in the table):
// every setting, and of each trust file its path, size and modification time (a file changed on
// disk makes a new context).
std::string client_ctx_key(const tls_client_config& cfg) {
    std::string k = fmt::format("insecure={};system={};min={};max={};depth={};bytes={};", cfg.insecure, cfg.use_system_store,
                                to_string(cfg.min_version), to_string(cfg.max_version), cfg.max_chain_depth, cfg.max_chain_bytes);
    auto stamp = [&k](const std::filesystem::path& p) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(p, ec);
        const auto mtime = std::filesystem::last_write_time(p, ec).time_since_epoch().count();
        k += fmt::format("{}:{}:{}:{};", p.string().size(), p.string(), ec ? 0 : size, ec ? 0 : mtime);
    };
    for (const auto& f : cfg.ca_files) stamp(f);
    if (!cfg.trust_dir.empty()) {
        stamp(cfg.trust_dir);
        std::error_code ec;
        for (const auto& de : std::filesystem::directory_iterator(cfg.trust_dir, ec)) stamp(de.path());
    }
    for (const auto& p : cfg.ca_pem) k += fmt::format("pem{}:{};", p.size(), p);
    k += fmt::format("crt{}:{};key{}:{};", cfg.cert_chain_pem.size(), cfg.cert_chain_pem, cfg.key_pem.size(), cfg.key_pem);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(k.data(), k.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};  // not shared
    return std::string(reinterpret_cast<const char*>(md), len);
}

proto::result<ssl_ctx_ptr> shared_ctx_for(const tls_client_config& cfg) {
    const std::string key = client_ctx_key(cfg);
    if (key.empty()) return make_client_ctx(cfg);
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<SSL_CTX>> shared;
    static std::deque<ssl_ctx_ptr> recent;  // strong references to the last 4 contexts made
    {
        std::lock_guard lock(mu);
        if (auto it = shared.find(key); it != shared.end())
            if (auto c = it->second.lock()) return c;
    }
    auto made = make_client_ctx(cfg);
    if (!made) return made;
    std::lock_guard lock(mu);
    std::erase_if(shared, [](const auto& e) { return e.second.expired(); });
    shared[key] = *made;
    recent.push_back(*made);
    if (recent.size() > 4) recent.pop_front();
    return made;
}

}  // namespace

client_tls::client_tls(const tls_client_config& cfg) : ctx(shared_ctx_for(cfg)) {}

proto::error handshake_error(SSL* ssl, const verify_record* rec) {
    long vr = X509_V_OK;
    int depth = -1;
    if (rec && rec->first_error != X509_V_OK) {
        vr = rec->first_error;
        depth = rec->depth;
    } else if (ssl && !SSL_is_server(ssl)) {
        vr = SSL_get_verify_result(ssl);
    }
    const unsigned long e = ERR_peek_error();
    std::string text = reason();
    if (vr != X509_V_OK && (!rec || !rec->record_only)) return tls_verify_error(vr, depth);
    const int r = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
    switch (r) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
        return proto::make_error(tls_errc::version_mismatch, std::move(text));
    case SSL_R_EXCESSIVE_MESSAGE_SIZE:
        // A client's only configurable handshake-message limit is the certificate list's
        // (tls_client_config::max_chain_bytes); the others are far above any sane message.
        if (ssl && !SSL_is_server(ssl))
            return proto::make_error(tls_errc::chain_too_big, "{} (the server's certificate chain is bigger than {} bytes)", text,
                                     SSL_get_max_cert_list(ssl));
        break;
    default:
        break;
    }
    if (r >= SSL_AD_REASON_OFFSET) return proto::make_error(tls_errc::rejected_by_peer, std::move(text));
    if (text.empty()) text = "no reason given by OpenSSL";
    return proto::make_error(tls_errc::handshake_failed, std::move(text));
}

}  // namespace detail

proto::result<void> validate(const tls_server_config& cfg) {
    auto r = detail::make_server_ctx(cfg);
    if (!r) return std::move(r).err();
    return {};
}

proto::result<void> validate(const tls_client_config& cfg) {
    auto r = detail::make_client_ctx(cfg);
    if (!r) return std::move(r).err();
    return {};
}

}  // namespace ttig::net
