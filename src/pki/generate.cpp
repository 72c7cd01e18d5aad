#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>

#include <fmt/format.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <memory>
#include <string_view>

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
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES_free>>;
using name_ptr = std::unique_ptr<GENERAL_NAME, deleter<GENERAL_NAME_free>>;
using ia5_ptr = std::unique_ptr<ASN1_IA5STRING, deleter<ASN1_IA5STRING_free>>;
using octets_ptr = std::unique_ptr<ASN1_OCTET_STRING, deleter<ASN1_OCTET_STRING_free>>;

proto::error failed(std::string what) {
    return proto::make_error(pki_errc::generate_failed, detail::with_reason(std::move(what)));
}

result<pkey_ptr> new_key(key_kind kind) {
    ERR_clear_error();
    pkey_ptr key(kind == key_kind::rsa2048 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048))
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) return failed("key generation");
    return key;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool valid_san(const std::string& s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c == 0x7F || c == ',') return false;
    return true;
}

bool add_sans(X509* cert, const std::vector<std::string>& sans) {
    names_ptr names(sk_GENERAL_NAME_new_null());
    if (!names) return false;
    for (const std::string& s : sans) {
        name_ptr g(GENERAL_NAME_new());
        if (!g) return false;
        if (octets_ptr ip{a2i_IPADDRESS(s.c_str())}) {
            GENERAL_NAME_set0_value(g.get(), GEN_IPADD, ip.release());
        } else {
            ERR_clear_error();
            ia5_ptr dns(ASN1_IA5STRING_new());
            if (!dns || ASN1_STRING_set(dns.get(), s.data(), static_cast<int>(s.size())) != 1) return false;
            GENERAL_NAME_set0_value(g.get(), GEN_DNS, dns.release());
        }
        if (sk_GENERAL_NAME_push(names.get(), g.get()) <= 0) return false;
        g.release();
    }
    return X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

bool random_serial(X509* cert) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) return false;
    raw[0] &= 0x7F;  // positive
    raw[0] |= 0x01;  // and 16 bytes long
    bn_ptr bn(BN_bin2bn(raw, sizeof raw, nullptr));
    return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

result<void> check_days(int days_valid) {
    if (days_valid < 1 || days_valid > 100000)
        return proto::make_error(pki_errc::bad_parameter, "days_valid {} is outside 1..100000", days_valid);
    return {};
}

// A certificate with everything but the extensions: version 3, serial, validity, subject CN,
// issuer (the subject itself when issuer is null), public key.
result<x509_ptr> skeleton(const std::string& cn, X509* issuer, EVP_PKEY* key, int days_valid, std::int64_t offset) {
    x509_ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 || !random_serial(cert.get()))
        return failed("certificate setup");
    auto not_before = static_cast<std::time_t>(static_cast<std::int64_t>(std::time(nullptr)) + offset);
    auto not_after = static_cast<std::time_t>(static_cast<std::int64_t>(not_before) + std::int64_t{days_valid} * 86400);
    if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert.get()), not_after))
        return failed("validity period");
    X509_NAME* subject = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                   static_cast<int>(cn.size()), -1, 0) != 1)
        return proto::make_error(pki_errc::bad_parameter, detail::with_reason(fmt::format("common name '{}'", cn)));
    if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(cert.get(), key) != 1)
        return failed("issuer or public key");
    return cert;
}

result<key_and_cert> finish(X509* cert, EVP_PKEY* key, EVP_PKEY* signer) {
    if (X509_sign(cert, signer, EVP_sha256()) <= 0) return failed("signing");
    key_and_cert out;
    int n = i2d_X509(cert, nullptr);
    if (n <= 0) return failed("certificate encoding");
    out.cert_der.resize(static_cast<std::size_t>(n));
    unsigned char* p = out.cert_der.data();
    if (i2d_X509(cert, &p) != n) return failed("certificate encoding");
    out.cert_pem = pem_encode("CERTIFICATE", out.cert_der);

    n = i2d_PrivateKey(key, nullptr);  // type-specific: SEC1 / PKCS#1
    if (n <= 0) return failed("key encoding");
    out.key_der.resize(static_cast<std::size_t>(n));
    p = out.key_der.data();
    if (i2d_PrivateKey(key, &p) != n) return failed("key encoding");
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return failed("key PEM encoding");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    if (len <= 0) return failed("key PEM encoding");
    out.key_pem.assign(data, static_cast<std::size_t>(len));
    if (out.cert_pem.empty()) return failed("certificate PEM encoding");
    return out;
}

// A CA (root or intermediate) ready to sign: its certificate and the private key that matches it.
struct issuer_parts {
    x509_ptr cert;
    pkey_ptr key;
};

result<issuer_parts> load_issuer(const key_and_cert& ca) {
    if (ca.cert_der.empty() || ca.cert_der.size() > LONG_MAX)
        return proto::make_error(pki_errc::bad_der, "CA certificate is empty");
    const unsigned char* p = ca.cert_der.data();
    x509_ptr ca_cert(d2i_X509(nullptr, &p, static_cast<long>(ca.cert_der.size())));
    if (!ca_cert) return proto::make_error(pki_errc::bad_der, detail::with_reason("CA certificate"));
    if (ca.key_der.empty() || ca.key_der.size() > LONG_MAX)
        return proto::make_error(pki_errc::bad_key, "CA key is empty");
    p = ca.key_der.data();
    pkey_ptr ca_key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(ca.key_der.size())));
    if (!ca_key) return proto::make_error(pki_errc::bad_key, detail::with_reason("CA key"));
    if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
        return proto::make_error(pki_errc::bad_parameter,
                                 detail::with_reason("CA key does not match the CA certificate"));
    return issuer_parts{std::move(ca_cert), std::move(ca_key)};
}

}  // namespace

proto::result<key_and_cert> make_ca(std::string cn, key_kind kind, int days_valid) {
    ERR_clear_error();
    if (cn.empty()) return proto::make_error(pki_errc::bad_parameter, "empty common name");
    if (auto ok = check_days(days_valid); !ok) return std::move(ok).err();
    auto key = new_key(kind);
    if (!key) return std::move(key).err();
    auto cert = skeleton(cn, nullptr, key->get(), days_valid, 0);
    if (!cert) return std::move(cert).err();
    X509* c = cert->get();
    if (!add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(c, c, NID_subject_key_identifier, "hash"))
        return failed("CA extensions");
    return finish(c, key->get(), key->get());
}

proto::result<key_and_cert> make_leaf(const key_and_cert& ca, std::string cn, std::vector<std::string> sans,
                                      key_kind kind, int days_valid, std::int64_t not_before_offset_seconds) {
    ERR_clear_error();
    if (cn.empty()) return proto::make_error(pki_errc::bad_parameter, "empty common name");
    if (auto ok = check_days(days_valid); !ok) return std::move(ok).err();
    constexpr std::int64_t max_offset = std::int64_t{100000} * 86400;
    if (not_before_offset_seconds < -max_offset || not_before_offset_seconds > max_offset)
        return proto::make_error(pki_errc::bad_parameter, "not_before offset {} s is out of range",
                                 not_before_offset_seconds);
    for (std::size_t i = 0; i < sans.size(); ++i)
        if (!valid_san(sans[i]))
            return proto::make_error(pki_errc::bad_parameter,
                                     "SAN {} is empty or contains a space, comma or control character", i + 1);

    auto issuer = load_issuer(ca);
    if (!issuer) return std::move(issuer).err();
    X509* ca_cert = issuer->cert.get();

    auto key = new_key(kind);
    if (!key) return std::move(key).err();
    auto cert = skeleton(cn, ca_cert, key->get(), days_valid, not_before_offset_seconds);
    if (!cert) return std::move(cert).err();
    X509* c = cert->get();
    const char* usage =
        kind == key_kind::rsa2048 ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
    if (!add_ext(c, ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(c, ca_cert, NID_key_usage, usage) ||
        !add_ext(c, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(c, ca_cert, NID_subject_key_identifier, "hash") ||
        !add_ext(c, ca_cert, NID_authority_key_identifier, "keyid:always"))
        return failed("leaf extensions");
    if (!sans.empty() && !add_sans(c, sans)) return failed("subjectAltName");
    return finish(c, key->get(), issuer->key.get());
}

proto::result<key_and_cert> make_intermediate(const key_and_cert& issuer_kc, std::string cn, key_kind kind, int days_valid,
                                              std::size_t padding_bytes) {
    ERR_clear_error();
    if (cn.empty()) return proto::make_error(pki_errc::bad_parameter, "empty common name");
    if (auto ok = check_days(days_valid); !ok) return std::move(ok).err();
    if (padding_bytes > max_padding_bytes)
        return proto::make_error(pki_errc::bad_parameter, "padding of {} bytes is above {}", padding_bytes, max_padding_bytes);
    auto issuer = load_issuer(issuer_kc);
    if (!issuer) return std::move(issuer).err();
    X509* ca_cert = issuer->cert.get();

    auto key = new_key(kind);
    if (!key) return std::move(key).err();
    auto cert = skeleton(cn, ca_cert, key->get(), days_valid, 0);
    if (!cert) return std::move(cert).err();
    X509* c = cert->get();
    if (!add_ext(c, ca_cert, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(c, ca_cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(c, ca_cert, NID_subject_key_identifier, "hash") ||
        !add_ext(c, ca_cert, NID_authority_key_identifier, "keyid:always"))
        return failed("intermediate CA extensions");
    if (padding_bytes > 0) {
        // IA5 text, taken literally by the config parser (no escapes, no commas needed).
        std::string pad;
        pad.reserve(padding_bytes);
        static constexpr std::string_view filler = "ttigctl padding ";
        while (pad.size() < padding_bytes) pad.append(filler.substr(0, std::min(filler.size(), padding_bytes - pad.size())));
        if (!add_ext(c, ca_cert, NID_netscape_comment, pad.c_str())) return failed("padding extension");
    }
    return finish(c, key->get(), issuer->key.get());
}

std::string issued_chain::chain_pem() const {
    std::string out = leaf.cert_pem;
    for (const auto& i : intermediates) out += i.cert_pem;
    return out;
}

std::size_t issued_chain::der_bytes() const noexcept {
    std::size_t n = leaf.cert_der.size();
    for (const auto& i : intermediates) n += i.cert_der.size();
    return n;
}

proto::result<issued_chain> make_chain(const key_and_cert& root, std::string leaf_cn, std::vector<std::string> sans,
                                       const chain_options& options) {
    if (options.intermediates > max_chain_intermediates)
        return proto::make_error(pki_errc::bad_parameter, "{} intermediates is above {}", options.intermediates, max_chain_intermediates);
    if (options.min_der_bytes > max_chain_der_bytes)
        return proto::make_error(pki_errc::bad_parameter, "a chain of {} bytes is above {}", options.min_der_bytes, max_chain_der_bytes);
    if (leaf_cn.empty()) return proto::make_error(pki_errc::bad_parameter, "empty common name");
    // Builds the chain with `padding` bytes in each intermediate.
    auto build = [&](std::size_t padding) -> proto::result<issued_chain> {
        issued_chain ch;
        ch.intermediates.resize(options.intermediates);
        const key_and_cert* issuer = &root;
        for (std::size_t n = 1; n <= options.intermediates; ++n) {
            auto im = make_intermediate(*issuer, fmt::format("{} intermediate {}", leaf_cn, n), options.intermediate_kind, 3650, padding);
            if (!im) return std::move(im).err();
            key_and_cert& slot = ch.intermediates[options.intermediates - n];
            slot = std::move(*im);
            issuer = &slot;
        }
        auto leaf = make_leaf(*issuer, leaf_cn, sans, options.leaf_kind, options.leaf_days_valid);
        if (!leaf) return std::move(leaf).err();
        ch.leaf = std::move(*leaf);
        return ch;
    };
    auto ch = build(0);
    if (!ch) return ch;
    if (ch->der_bytes() >= options.min_der_bytes) return ch;
    if (options.intermediates == 0)
        return proto::make_error(pki_errc::bad_parameter, "a chain of at least {} bytes needs an intermediate to pad",
                                 options.min_der_bytes);
    // Padding adds its length plus a little DER framing; signatures vary by a few bytes, so aim a
    // little high and top up if a retry is still short.
    std::size_t padding = (options.min_der_bytes - ch->der_bytes()) / options.intermediates + 16;
    for (int attempt = 0; attempt < 4; ++attempt) {
        ch = build(padding);
        if (!ch || ch->der_bytes() >= options.min_der_bytes) return ch;
        padding += (options.min_der_bytes - ch->der_bytes()) / options.intermediates + 16;
    }
    return failed("padding the chain to its size");
}

}  // namespace ttig::pki
