#include <ttig/pki/pem.hpp>

#include <fmt/format.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace ttig::pki {

namespace detail {

std::string openssl_reason() {
    unsigned long e = ERR_get_error();  // the oldest entry: usually the most specific cause
    if (e == 0) return {};
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

std::string with_reason(std::string what) {
    std::string reason = openssl_reason();
    if (reason.empty()) return what;
    return fmt::format("{}: {}", what, reason);
}

}  // namespace detail

namespace {

template <auto F>
struct deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        F(p);
    }
};
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;

void ossl_free(void* p) noexcept { OPENSSL_free(p); }
using ossl_str = std::unique_ptr<char, deleter<ossl_free>>;

// A decoded PEM block; the data buffer is wiped on release (it may hold a private key).
struct pem_block {
    ossl_str name, header;
    unsigned char* data = nullptr;
    long len = 0;
    pem_block() = default;
    pem_block(const pem_block&) = delete;
    pem_block& operator=(const pem_block&) = delete;
    ~pem_block() {
        if (data) OPENSSL_clear_free(data, static_cast<std::size_t>(len));
    }
    std::string_view label() const { return name ? std::string_view(name.get()) : std::string_view(); }
    byte_view der() const { return {data, static_cast<std::size_t>(len)}; }
};

enum class pem_next { block, end, error };

// Reads the next PEM block (PEM_read_bio skips text between blocks). `end` when no further
// "-----BEGIN" line exists; `error` with a detail otherwise.
pem_next read_block(BIO* bio, pem_block& out, std::string& detail) {
    ERR_clear_error();
    char* name = nullptr;
    char* header = nullptr;
    if (PEM_read_bio(bio, &name, &header, &out.data, &out.len) == 1) {
        out.name.reset(name);
        out.header.reset(header);
        return pem_next::block;
    }
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return pem_next::end;
    }
    detail = detail::with_reason("cannot decode PEM block");
    return pem_next::error;
}

bio_ptr mem_bio(byte_view data) { return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))); }

bool is_certificate_label(std::string_view l) { return l == "CERTIFICATE" || l == "X509 CERTIFICATE"; }

// Checks that `der` is exactly one X.509 certificate.
result<void> check_certificate_der(byte_view der, pki_errc code, std::string_view where) {
    ERR_clear_error();
    if (der.size() > LONG_MAX) return proto::make_error(code, "{}: input too large", where);
    const unsigned char* p = der.data();
    x509_ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x) return proto::make_error(code, detail::with_reason(fmt::format("{}: not an X.509 certificate", where)));
    auto used = static_cast<std::size_t>(p - der.data());
    if (used != der.size())
        return proto::make_error(code, "{}: {} trailing bytes after the {}-byte certificate", where, der.size() - used,
                                 used);
    return {};
}

// PEM when the station would say so (first non-space byte '-'), and also for text with leading
// commentary ("subject=...", openssl s_client output) that is clearly not DER (DER starts 0x30).
bool treat_as_pem(byte_view in) {
    if (looks_like_pem(in)) return true;
    if (in.empty() || in[0] == 0x30) return false;
    return proto::as_chars(in).find("-----BEGIN ") != std::string_view::npos;
}

bool blank(byte_view data) {
    for (std::uint8_t c : data)
        if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')) return false;
    return true;
}

result<std::vector<bytes>> certificates(byte_view in, bool first_only) {
    if (blank(in)) return proto::make_error(pki_errc::no_certificate, "input is empty");
    std::vector<bytes> out;
    if (!treat_as_pem(in)) {
        if (auto ok = check_certificate_der(in, pki_errc::bad_der, "DER input"); !ok) return std::move(ok).err();
        out.emplace_back(in.begin(), in.end());
        return out;
    }
    if (in.size() > INT_MAX) return proto::make_error(pki_errc::bad_pem, "input too large");
    bio_ptr bio = mem_bio(in);
    if (!bio) return proto::make_error(pki_errc::bad_pem, detail::with_reason("cannot allocate a BIO"));
    for (int index = 1;; ++index) {
        pem_block block;
        std::string detail;
        pem_next n = read_block(bio.get(), block, detail);
        if (n == pem_next::end) break;
        if (n == pem_next::error) return proto::make_error(pki_errc::bad_pem, "block {}: {}", index, detail);
        if (!is_certificate_label(block.label())) continue;
        auto where = fmt::format("PEM block {} ({})", index, block.label());
        if (auto ok = check_certificate_der(block.der(), pki_errc::bad_pem, where); !ok) return std::move(ok).err();
        out.emplace_back(block.der().begin(), block.der().end());
        if (first_only) break;
    }
    if (out.empty()) return proto::make_error(pki_errc::no_certificate, "no CERTIFICATE block in the PEM input");
    return out;
}

// Refuses encrypted PEM blocks ("Proc-Type: 4,ENCRYPTED" header or "ENCRYPTED PRIVATE KEY").
bool encrypted(const pem_block& b) {
    if (b.label() == "ENCRYPTED PRIVATE KEY") return true;
    return b.header && std::strstr(b.header.get(), "ENCRYPTED") != nullptr;
}

result<pkey_ptr> decode_der_key(byte_view der, int type, std::string_view where) {
    ERR_clear_error();
    if (der.size() > LONG_MAX) return proto::make_error(pki_errc::bad_key, "{}: input too large", where);
    const unsigned char* p = der.data();
    auto len = static_cast<long>(der.size());
    pkey_ptr key(type == EVP_PKEY_NONE ? d2i_AutoPrivateKey(nullptr, &p, len) : d2i_PrivateKey(type, nullptr, &p, len));
    if (!key)
        return proto::make_error(pki_errc::bad_key, detail::with_reason(fmt::format("{}: not a private key", where)));
    return key;
}

result<pkey_ptr> decode_key(byte_view in) {
    if (blank(in)) return proto::make_error(pki_errc::no_key, "input is empty");
    if (!treat_as_pem(in)) return decode_der_key(in, EVP_PKEY_NONE, "DER input");
    if (in.size() > INT_MAX) return proto::make_error(pki_errc::bad_key, "input too large");
    bio_ptr bio = mem_bio(in);
    if (!bio) return proto::make_error(pki_errc::bad_key, detail::with_reason("cannot allocate a BIO"));
    for (int index = 1;; ++index) {
        pem_block block;
        std::string detail;
        pem_next n = read_block(bio.get(), block, detail);
        if (n == pem_next::end) break;
        if (n == pem_next::error) return proto::make_error(pki_errc::bad_pem, "block {}: {}", index, detail);
        std::string_view l = block.label();
        if (encrypted(block))
            return proto::make_error(pki_errc::bad_key, "PEM block {} ({}) is encrypted; decrypt it first", index, l);
        int type = l == "PRIVATE KEY"       ? EVP_PKEY_NONE
                   : l == "RSA PRIVATE KEY" ? EVP_PKEY_RSA
                   : l == "EC PRIVATE KEY"  ? EVP_PKEY_EC
                                            : -1;
        if (type == -1) continue;
        return decode_der_key(block.der(), type, fmt::format("PEM block {} ({})", index, l));
    }
    return proto::make_error(pki_errc::no_key, "no PRIVATE KEY block in the PEM input");
}

std::string bio_string(BIO* bio) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

bool looks_like_pem(byte_view data) noexcept {
    for (std::uint8_t c : data) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
        return c == '-';
    }
    return false;
}

result<bytes> certificate_der(byte_view pem_or_der) {
    auto all = certificates(pem_or_der, true);
    if (!all) return std::move(all).err();
    return std::move(all->front());
}

result<std::vector<bytes>> certificate_chain(byte_view pem_or_der) { return certificates(pem_or_der, false); }

result<bytes> private_key_der(byte_view pem_or_der) {
    auto key = decode_key(pem_or_der);
    if (!key) return std::move(key).err();
    int id = EVP_PKEY_get_base_id(key->get());
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
        const char* name = EVP_PKEY_get0_type_name(key->get());
        return proto::make_error(pki_errc::unsupported_key, "key type {} has no station (PKCS#1/SEC1) form",
                                 name ? name : "unknown");
    }
    ERR_clear_error();
    // i2d_PrivateKey writes the type-specific ("traditional") structure: PKCS#1 or SEC1.
    int n = i2d_PrivateKey(key->get(), nullptr);
    if (n <= 0) return proto::make_error(pki_errc::bad_key, detail::with_reason("cannot encode the key"));
    bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    if (i2d_PrivateKey(key->get(), &p) != n || out.empty() || out[0] != 0x30) {
        OPENSSL_cleanse(out.data(), out.size());
        return proto::make_error(pki_errc::bad_key, detail::with_reason("cannot encode the key"));
    }
    return out;
}

std::string pem_encode(std::string_view label, byte_view der) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || der.size() > LONG_MAX) return {};
    std::string name(label);
    if (PEM_write_bio(bio.get(), name.c_str(), "", der.data(), static_cast<long>(der.size())) <= 0) {
        ERR_clear_error();
        return {};
    }
    return bio_string(bio.get());
}

result<std::string> certificate_pem(byte_view der) {
    auto cert = certificate_der(der);
    if (!cert) return std::move(cert).err();
    return pem_encode("CERTIFICATE", *cert);
}

result<std::string> private_key_pem(byte_view pem_or_der) {
    auto key = decode_key(pem_or_der);
    if (!key) return std::move(key).err();
    bio_ptr bio(BIO_new(BIO_s_mem()));
    ERR_clear_error();
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key->get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return proto::make_error(pki_errc::bad_key, detail::with_reason("cannot encode the key as PEM"));
    return bio_string(bio.get());
}

result<bytes> load_file(const std::filesystem::path& path, std::size_t max_size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return proto::make_error(pki_errc::unreadable, "{}: {}", path.string(), std::strerror(errno));
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return proto::make_error(pki_errc::unreadable, "{}: {}", path.string(), std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return proto::make_error(pki_errc::unreadable, "{}: is a directory", path.string());
    bytes out;
    std::uint8_t buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return proto::make_error(pki_errc::unreadable, "{}: {}", path.string(), std::strerror(errno));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_size)
            return proto::make_error(pki_errc::unreadable, "{}: larger than {} bytes", path.string(), max_size);
        out.insert(out.end(), buf, buf + n);
    }
    return out;
}

}  // namespace ttig::pki
