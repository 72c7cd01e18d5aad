#include <ttig/pki/pem.hpp>
#include <ttig/pki/x509.hpp>

#include <fmt/format.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <climits>
#include <ctime>
#include <memory>

namespace ttig::pki {

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
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES_free>>;
void ossl_free(void* p) noexcept { OPENSSL_free(p); }
using ossl_str = std::unique_ptr<char, deleter<ossl_free>>;

std::string name_string(const X509_NAME* name) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || !name) return {};
    // RFC 2253 without escaping UTF-8 bytes.
    if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) return {};
    char* p = nullptr;
    long n = BIO_get_mem_data(bio.get(), &p);
    return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

bool to_unix(const ASN1_TIME* t, std::int64_t& unix_out, std::string& rfc3339) {
    std::tm tm{};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    unix_out = static_cast<std::int64_t>(timegm(&tm));
    rfc3339 = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec);
    return true;
}

std::string key_type_of(EVP_PKEY* key) {
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA: return "RSA";
        case EVP_PKEY_RSA_PSS: return "RSA-PSS";
        case EVP_PKEY_ED25519: return "Ed25519";
        case EVP_PKEY_ED448: return "Ed448";
        case EVP_PKEY_EC: {
            char group[80] = {};
            std::size_t len = 0;
            if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) return "EC";
            const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
            return fmt::format("EC {}", nist ? nist : group);
        }
        default: {
            const char* n = EVP_PKEY_get0_type_name(key);
            return n ? n : "unknown";
        }
    }
}

std::string serial_of(const X509* x) {
    bn_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
    if (!bn) return {};
    ossl_str hex(BN_bn2hex(bn.get()));
    return hex ? std::string(hex.get()) : std::string();
}

std::string fingerprint(proto::byte_view der) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(der.data(), der.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
    std::string out;
    static constexpr char digits[] = "0123456789ABCDEF";
    for (unsigned int i = 0; i < len; ++i) {
        if (i) out.push_back(':');
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 0xF]);
    }
    return out;
}

void read_sans(const X509* x, cert_info& info) {
    names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) return;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
        if (g->type == GEN_DNS) {
            const ASN1_STRING* s = g->d.dNSName;
            info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<std::size_t>(ASN1_STRING_length(s)));
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING* s = g->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = {};
            int len = ASN1_STRING_length(s);
            int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (family && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text))
                info.ip_addresses.emplace_back(text);
            else
                info.ip_addresses.emplace_back(fmt::format("<{}-byte address>", len));
        }
    }
}

}  // namespace

proto::result<cert_info> inspect_certificate(proto::byte_view der_in) {
    proto::bytes converted;
    proto::byte_view der = der_in;
    if (!der_in.empty() && der_in[0] != 0x30 && proto::as_chars(der_in).find("-----BEGIN ") != std::string_view::npos) {
        auto c = certificate_der(der_in);
        if (!c) return std::move(c).err();
        converted = std::move(*c);
        der = converted;
    }
    ERR_clear_error();
    if (der.empty()) return proto::make_error(pki_errc::bad_der, "input is empty");
    if (der.size() > LONG_MAX) return proto::make_error(pki_errc::bad_der, "input too large");
    const unsigned char* p = der.data();
    x509_ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x) return proto::make_error(pki_errc::bad_der, detail::with_reason("not an X.509 certificate"));
    auto used = static_cast<std::size_t>(p - der.data());
    if (used != der.size())
        return proto::make_error(pki_errc::bad_der, "{} trailing bytes after the {}-byte certificate",
                                 der.size() - used, used);

    cert_info info;
    info.der_size = der.size();
    info.subject = name_string(X509_get_subject_name(x.get()));
    info.issuer = name_string(X509_get_issuer_name(x.get()));
    if (!to_unix(X509_get0_notBefore(x.get()), info.not_before_unix, info.not_before) ||
        !to_unix(X509_get0_notAfter(x.get()), info.not_after_unix, info.not_after))
        return proto::make_error(pki_errc::bad_der, detail::with_reason("unreadable validity period"));

    if (EVP_PKEY* key = X509_get0_pubkey(x.get())) {
        info.key_type = key_type_of(key);
        info.key_bits = EVP_PKEY_get_bits(key);
    } else {
        info.key_type = "unknown";
        ERR_clear_error();
    }

    int sig_nid = X509_get_signature_nid(x.get());
    if (const char* ln = sig_nid != NID_undef ? OBJ_nid2ln(sig_nid) : nullptr) {
        info.signature_algorithm = ln;
    } else {
        const X509_ALGOR* alg = nullptr;
        X509_get0_signature(nullptr, &alg, x.get());
        const ASN1_OBJECT* obj = nullptr;
        if (alg) X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
        char buf[128] = {};
        if (obj) OBJ_obj2txt(buf, sizeof buf, obj, 1);
        info.signature_algorithm = buf;
    }

    info.serial_hex = serial_of(x.get());
    info.sha256_fingerprint = fingerprint(der);
    info.is_ca = (X509_get_extension_flags(x.get()) & EXFLAG_CA) != 0;
    info.self_signed = X509_self_signed(x.get(), 1) == 1;
    read_sans(x.get(), info);
    ERR_clear_error();
    return info;
}

bool expired_at(const cert_info& info, std::int64_t unix_now) noexcept { return unix_now > info.not_after_unix; }

bool not_yet_valid_at(const cert_info& info, std::int64_t unix_now) noexcept { return unix_now < info.not_before_unix; }

}  // namespace ttig::pki
