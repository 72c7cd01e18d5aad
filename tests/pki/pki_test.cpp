// Tests for the pki layer: PEM/DER conversion, X.509 inspection, the test CA.
#include <doctest/doctest.h>

#include <ttig/pki/error.hpp>
#include <ttig/pki/generate.hpp>
#include <ttig/pki/pem.hpp>
#include <ttig/pki/x509.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace ttig;
using proto::bytes;

namespace {

const std::string data_dir = std::string(TTIG_TEST_DATA_DIR) + "/pki/";

bytes data_file(const std::string& name) {
    auto b = pki::load_file(data_dir + name);
    REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.err().what()));
    return *b;
}

proto::byte_view view(std::string_view s) { return proto::as_bytes(s); }

template <class T>
std::string id_of(const proto::result<T>& r) {
    return r ? std::string("ok") : r.err().id();
}

std::string sha256_colon(proto::byte_view b) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    REQUIRE(EVP_Digest(b.data(), b.size(), md, &n, EVP_sha256(), nullptr) == 1);
    std::string out;
    char buf[4];
    for (unsigned int i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, i ? ":%02X" : "%02X", md[i]);
        out += buf;
    }
    return out;
}

std::string rfc3339(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Whether `cert_der` carries a signature made by the key of `issuer_der` (independent check).
bool signed_by(const bytes& cert_der, const bytes& issuer_der) {
    const unsigned char* p = cert_der.data();
    std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())),
                                                     X509_free);
    p = issuer_der.data();
    std::unique_ptr<X509, decltype(&X509_free)> issuer(d2i_X509(nullptr, &p, static_cast<long>(issuer_der.size())),
                                                       X509_free);
    REQUIRE(cert);
    REQUIRE(issuer);
    return X509_verify(cert.get(), X509_get0_pubkey(issuer.get())) == 1;
}

// The element after the version INTEGER of a DER private key: 0x02 (INTEGER) for PKCS#1,
// 0x04 (OCTET STRING) for SEC1, 0x30 (AlgorithmIdentifier) for PKCS#8.
std::uint8_t tag_after_version(const bytes& der) {
    REQUIRE(der.size() > 8);
    REQUIRE(der[0] == 0x30);
    std::size_t i = 1;
    i += (der[i] & 0x80) ? 1 + (der[i] & 0x7F) : 1;  // outer length
    REQUIRE(der[i] == 0x02);                         // version INTEGER
    std::size_t vlen = der[i + 1];
    return der[i + 2 + vlen];
}

const std::regex fingerprint_re("^([0-9A-F]{2}:){31}[0-9A-F]{2}$");
const std::regex rfc3339_re("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$");

}  // namespace

TEST_SUITE("pki") {
    TEST_CASE("pki errors: ids are unique, prefixed, have messages and are listed in docs/errors.md") {
        std::ifstream in(std::string(TTIG_SOURCE_DIR) + "/docs/errors.md");
        REQUIRE(in.good());
        std::stringstream doc_text;
        doc_text << in.rdbuf();
        const std::string doc = doc_text.str();
        std::set<std::string> ids;
        for (const proto::table_category* cat : pki::categories()) {
            CHECK(cat->domain() == "pki");
            for (const auto& e : cat->entries()) {
                CAPTURE(e.name);
                CHECK_FALSE(e.message.empty());
                CHECK(ids.insert(cat->id(e.value)).second);
                CHECK(doc.find("| `" + cat->id(e.value) + "` |") != std::string::npos);
            }
        }
        CHECK(ids.count("pki.bad_pem") == 1);
        CHECK(ids.count("pki.unreadable") == 1);
        auto e = proto::make_error(pki::pki_errc::no_certificate, "x");
        CHECK(e.what() == "[pki.no_certificate] no certificate found: x");
    }

    TEST_CASE("looks_like_pem: first non-space byte is '-'") {
        CHECK(pki::looks_like_pem(view("-----BEGIN CERTIFICATE-----")));
        CHECK(pki::looks_like_pem(view(" \r\n\t-----BEGIN")));
        CHECK_FALSE(pki::looks_like_pem(view("")));
        CHECK_FALSE(pki::looks_like_pem(view("   ")));
        CHECK_FALSE(pki::looks_like_pem(view("0\x82")));
        CHECK_FALSE(pki::looks_like_pem(view("x-----BEGIN")));
    }

    TEST_CASE("make_ca: self-signed EC CA inspected field by field") {
        auto before = static_cast<std::int64_t>(std::time(nullptr));
        auto ca = pki::make_ca("ttig test root", pki::key_kind::ec_p256, 30);
        REQUIRE_MESSAGE(ca.has_value(), (ca ? "" : ca.err().what()));
        auto after = static_cast<std::int64_t>(std::time(nullptr));

        auto info = pki::inspect_certificate(ca->cert_der);
        REQUIRE(info.has_value());
        CHECK(info->subject == "CN=ttig test root");
        CHECK(info->issuer == "CN=ttig test root");
        CHECK(info->is_ca);
        CHECK(info->self_signed);
        CHECK(info->key_type == "EC P-256");
        CHECK(info->key_bits == 256);
        CHECK(info->signature_algorithm == "ecdsa-with-SHA256");
        CHECK(info->der_size == ca->cert_der.size());
        CHECK(std::regex_match(info->sha256_fingerprint, fingerprint_re));
        CHECK(info->sha256_fingerprint == sha256_colon(ca->cert_der));
        CHECK(std::regex_match(info->serial_hex, std::regex("^[0-9A-F]{32}$")));
        CHECK(info->not_before_unix >= before);
        CHECK(info->not_before_unix <= after);
        CHECK(info->not_after_unix - info->not_before_unix == 30 * 86400);
        CHECK(std::regex_match(info->not_before, rfc3339_re));
        CHECK(info->not_before == rfc3339(info->not_before_unix));
        CHECK(info->not_after == rfc3339(info->not_after_unix));
        CHECK(info->dns_names.empty());
        CHECK(info->ip_addresses.empty());
        CHECK(signed_by(ca->cert_der, ca->cert_der));

        // The key is SEC1 (traditional), the PEM is PKCS#8.
        CHECK(tag_after_version(ca->key_der) == 0x04);
        CHECK(ca->key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
        CHECK(ca->cert_pem.rfind("-----BEGIN CERTIFICATE-----\n", 0) == 0);

        SUBCASE("two CAs get different serials and keys") {
            auto other = pki::make_ca("ttig test root", pki::key_kind::ec_p256, 30);
            REQUIRE(other.has_value());
            CHECK(pki::inspect_certificate(other->cert_der)->serial_hex != info->serial_hex);
            CHECK(other->key_der != ca->key_der);
        }
    }

    TEST_CASE("make_leaf: SANs, issuer, signature, not a CA") {
        auto ca = pki::make_ca("ttig test root");
        REQUIRE(ca.has_value());
        auto leaf = pki::make_leaf(*ca, "localhost", {"localhost", "127.0.0.1", "::1", "lns.example.com"});
        REQUIRE_MESSAGE(leaf.has_value(), (leaf ? "" : leaf.err().what()));
        auto info = pki::inspect_certificate(leaf->cert_der);
        REQUIRE(info.has_value());
        CHECK(info->subject == "CN=localhost");
        CHECK(info->issuer == "CN=ttig test root");
        CHECK_FALSE(info->is_ca);
        CHECK_FALSE(info->self_signed);
        CHECK(info->dns_names == std::vector<std::string>{"localhost", "lns.example.com"});
        CHECK(info->ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});
        CHECK(info->not_after_unix - info->not_before_unix == 365 * 86400);
        CHECK(signed_by(leaf->cert_der, ca->cert_der));
        CHECK_FALSE(signed_by(leaf->cert_der, leaf->cert_der));
        CHECK(pki::inspect_certificate(leaf->cert_der)->serial_hex !=
              pki::inspect_certificate(ca->cert_der)->serial_hex);
    }

    TEST_CASE("make_intermediate and make_chain: issuer order, padding, verified by OpenSSL under the root") {
        auto root = pki::make_ca("ttig test root");
        REQUIRE(root.has_value());
        auto im = pki::make_intermediate(*root, "ttig test intermediate");
        REQUIRE_MESSAGE(im.has_value(), (im ? "" : im.err().what()));
        auto im_info = pki::inspect_certificate(im->cert_der);
        REQUIRE(im_info.has_value());
        CHECK(im_info->is_ca);
        CHECK_FALSE(im_info->self_signed);
        CHECK(im_info->issuer == "CN=ttig test root");
        CHECK(signed_by(im->cert_der, root->cert_der));
        auto padded = pki::make_intermediate(*root, "padded", pki::key_kind::ec_p256, 3650, 5000);
        REQUIRE(padded.has_value());
        CHECK(padded->cert_der.size() >= im->cert_der.size() + 5000);
        CHECK(id_of(pki::make_intermediate(*root, "x", pki::key_kind::ec_p256, 3650, pki::max_padding_bytes + 1)) == "pki.bad_parameter");
        CHECK(id_of(pki::make_intermediate(*root, "")) == "pki.bad_parameter");

        // Verifies a chain (leaf first) with OpenSSL under `root` and a maximum depth (-1: default).
        auto verify = [&](const pki::issued_chain& ch, int depth) {
            auto parse = [](const bytes& der) {
                const unsigned char* p = der.data();
                return d2i_X509(nullptr, &p, static_cast<long>(der.size()));
            };
            std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
            std::unique_ptr<X509, decltype(&X509_free)> anchor(parse(root->cert_der), X509_free);
            std::unique_ptr<X509, decltype(&X509_free)> leaf(parse(ch.leaf.cert_der), X509_free);
            REQUIRE(X509_STORE_add_cert(store.get(), anchor.get()) == 1);
            auto free_stack = [](STACK_OF(X509) * st) { sk_X509_free(st); };  // sk_X509_free is a macro
            std::unique_ptr<STACK_OF(X509), decltype(free_stack)> untrusted(sk_X509_new_null(), free_stack);
            std::vector<std::unique_ptr<X509, decltype(&X509_free)>> keep;
            for (const auto& i : ch.intermediates) {
                keep.emplace_back(parse(i.cert_der), X509_free);
                sk_X509_push(untrusted.get(), keep.back().get());
            }
            std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
            REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) == 1);
            if (depth >= 0) X509_STORE_CTX_set_depth(ctx.get(), depth);
            return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
        };

        pki::chain_options o;
        o.intermediates = 3;
        auto ch = pki::make_chain(*root, "chain.example", {"chain.example"}, o);
        REQUIRE_MESSAGE(ch.has_value(), (ch ? "" : ch.err().what()));
        REQUIRE(ch->intermediates.size() == 3);
        CHECK(pki::inspect_certificate(ch->leaf.cert_der)->issuer == "CN=chain.example intermediate 3");
        CHECK(pki::inspect_certificate(ch->intermediates[0].cert_der)->subject == "CN=chain.example intermediate 3");
        CHECK(pki::inspect_certificate(ch->intermediates[2].cert_der)->issuer == "CN=ttig test root");
        auto pem_chain = pki::certificate_chain(view(ch->chain_pem()));
        REQUIRE(pem_chain.has_value());
        REQUIRE(pem_chain->size() == 4);
        CHECK((*pem_chain)[0] == ch->leaf.cert_der);
        CHECK((*pem_chain)[3] == ch->intermediates[2].cert_der);
        CHECK(ch->der_bytes() == ch->leaf.cert_der.size() + ch->intermediates[0].cert_der.size() +
                                     ch->intermediates[1].cert_der.size() + ch->intermediates[2].cert_der.size());
        CHECK(verify(*ch, -1) == X509_V_OK);
        CHECK(verify(*ch, 3) == X509_V_OK);  // depth counts intermediates only
        CHECK(verify(*ch, 2) == X509_V_ERR_CERT_CHAIN_TOO_LONG);

        o.intermediates = 2;
        o.min_der_bytes = 20000;
        auto big = pki::make_chain(*root, "big.example", {"big.example"}, o);
        REQUIRE_MESSAGE(big.has_value(), (big ? "" : big.err().what()));
        CHECK(big->der_bytes() >= 20000);
        CHECK(big->der_bytes() < 20000 + 400);  // padded to the target, not far beyond it
        CHECK(verify(*big, -1) == X509_V_OK);

        o.intermediates = 0;
        auto direct = pki::make_chain(*root, "direct.example", {"direct.example"}, o);
        CHECK(id_of(direct) == "pki.bad_parameter");  // nothing to pad
        o.min_der_bytes = 0;
        direct = pki::make_chain(*root, "direct.example", {"direct.example"}, o);
        REQUIRE(direct.has_value());
        CHECK(direct->intermediates.empty());
        CHECK(verify(*direct, 0) == X509_V_OK);
        o.intermediates = pki::max_chain_intermediates + 1;
        CHECK(id_of(pki::make_chain(*root, "x", {"x"}, o)) == "pki.bad_parameter");
    }

    TEST_CASE("RSA CA and leaf: key type, PKCS#1 key, RSA signature") {
        auto ca = pki::make_ca("rsa root", pki::key_kind::rsa2048, 10);
        REQUIRE(ca.has_value());
        auto ca_info = pki::inspect_certificate(ca->cert_der);
        REQUIRE(ca_info.has_value());
        CHECK(ca_info->key_type == "RSA");
        CHECK(ca_info->key_bits == 2048);
        CHECK(ca_info->signature_algorithm == "sha256WithRSAEncryption");
        CHECK(tag_after_version(ca->key_der) == 0x02);  // PKCS#1: version, then the modulus INTEGER

        auto leaf = pki::make_leaf(*ca, "router", {"router-1"}, pki::key_kind::ec_p256, 10);
        REQUIRE(leaf.has_value());
        auto info = pki::inspect_certificate(leaf->cert_der);
        CHECK(info->key_type == "EC P-256");
        CHECK(info->signature_algorithm == "sha256WithRSAEncryption");  // signed by the RSA CA
        CHECK(signed_by(leaf->cert_der, ca->cert_der));
    }

    TEST_CASE("expired_at: a leaf built in the past is expired, a fresh one is not") {
        auto ca = pki::make_ca("ttig test root");
        REQUIRE(ca.has_value());
        auto now = static_cast<std::int64_t>(std::time(nullptr));
        auto old = pki::make_leaf(*ca, "old", {"old.example"}, pki::key_kind::ec_p256, 1, -3 * 86400);
        REQUIRE(old.has_value());
        auto old_info = pki::inspect_certificate(old->cert_der);
        REQUIRE(old_info.has_value());
        CHECK(old_info->not_after_unix < now);
        CHECK(pki::expired_at(*old_info, now));
        CHECK_FALSE(pki::expired_at(*old_info, old_info->not_after_unix));  // the last second still counts
        CHECK(pki::expired_at(*old_info, old_info->not_after_unix + 1));

        auto fresh = pki::inspect_certificate(pki::make_leaf(*ca, "new", {"new.example"})->cert_der);
        REQUIRE(fresh.has_value());
        CHECK_FALSE(pki::expired_at(*fresh, now));
        CHECK_FALSE(pki::not_yet_valid_at(*fresh, fresh->not_before_unix));
        CHECK(pki::not_yet_valid_at(*fresh, fresh->not_before_unix - 1));
    }

    TEST_CASE("PEM <-> DER round trips") {
        auto ca = pki::make_ca("ttig test root");
        REQUIRE(ca.has_value());
        auto leaf = pki::make_leaf(*ca, "leaf", {"leaf.example"});
        REQUIRE(leaf.has_value());

        SUBCASE("certificates") {
            CHECK(pki::certificate_der(view(ca->cert_pem)).value() == ca->cert_der);
            CHECK(pki::certificate_der(ca->cert_der).value() == ca->cert_der);
            CHECK(pki::certificate_pem(ca->cert_der).value() == ca->cert_pem);
            CHECK(pki::certificate_pem(view(ca->cert_pem)).value() == ca->cert_pem);
            CHECK(pki::pem_encode("CERTIFICATE", ca->cert_der) == ca->cert_pem);
            // inspect accepts PEM as well and reports the DER size.
            CHECK(pki::inspect_certificate(view(ca->cert_pem))->sha256_fingerprint == sha256_colon(ca->cert_der));
        }
        SUBCASE("keys: PKCS#8 PEM, traditional PEM and DER all give the traditional DER") {
            CHECK(pki::private_key_der(view(ca->key_pem)).value() == ca->key_der);
            CHECK(pki::private_key_der(ca->key_der).value() == ca->key_der);
            std::string traditional = pki::pem_encode("EC PRIVATE KEY", ca->key_der);
            CHECK(pki::private_key_der(view(traditional)).value() == ca->key_der);
            CHECK(pki::private_key_pem(ca->key_der).value() == ca->key_pem);
            CHECK(pki::private_key_pem(view(traditional)).value() == ca->key_pem);
        }
        SUBCASE("bundles: chain order, first certificate, key found behind a certificate") {
            std::string bundle = "subject=leaf\n" + leaf->cert_pem + "\n" + ca->cert_pem;
            auto chain = pki::certificate_chain(view(bundle));
            REQUIRE_MESSAGE(chain.has_value(), (chain ? "" : chain.err().what()));
            REQUIRE(chain->size() == 2);
            CHECK((*chain)[0] == leaf->cert_der);
            CHECK((*chain)[1] == ca->cert_der);
            CHECK(pki::certificate_der(view(bundle)).value() == leaf->cert_der);

            std::string combined = leaf->key_pem + leaf->cert_pem;
            CHECK(pki::certificate_der(view(combined)).value() == leaf->cert_der);
            std::string combined2 = leaf->cert_pem + leaf->key_pem;
            CHECK(pki::private_key_der(view(combined2)).value() == leaf->key_der);
            CHECK(pki::certificate_chain(leaf->cert_der).value() == std::vector<bytes>{leaf->cert_der});
        }
    }

    TEST_CASE("keys written by the openssl CLI") {
        SUBCASE("EC PARAMETERS + EC PRIVATE KEY (openssl ecparam -genkey)") {
            auto der = pki::private_key_der(data_file("ec-params-key.pem"));
            REQUIRE_MESSAGE(der.has_value(), (der ? "" : der.err().what()));
            CHECK(*der == data_file("ec-params-key.der"));
            CHECK(pki::private_key_der(data_file("ec-params-key.der")).value() == data_file("ec-params-key.der"));
        }
        SUBCASE("RSA PRIVATE KEY (openssl genrsa -traditional)") {
            auto der = pki::private_key_der(data_file("rsa-traditional.pem"));
            REQUIRE(der.has_value());
            CHECK(*der == data_file("rsa-traditional.der"));
            CHECK(tag_after_version(*der) == 0x02);
        }
        SUBCASE("ENCRYPTED PRIVATE KEY is refused") {
            auto r = pki::private_key_der(data_file("ec-encrypted.pem"));
            CHECK(id_of(r) == "pki.bad_key");
            CHECK(r.err().detail.find("encrypted") != std::string::npos);
            auto t = pki::private_key_der(data_file("ec-encrypted-traditional.pem"));  // Proc-Type: 4,ENCRYPTED
            CHECK(id_of(t) == "pki.bad_key");
            CHECK(t.err().detail.find("encrypted") != std::string::npos);
        }
    }

    TEST_CASE("ISRG Root X1 (protocol doc TV8)") {
        bytes pem = data_file("../../../certs/isrg-root-x1.pem");
        CHECK(pem.size() == 1939);
        auto der = pki::certificate_der(pem);
        REQUIRE(der.has_value());
        CHECK(der->size() == 1391);
        CHECK(proto::crc32(*der) == 0x65E5A5B2u);
        auto info = pki::inspect_certificate(*der);
        REQUIRE(info.has_value());
        CHECK(info->sha256_fingerprint ==
              "96:BC:EC:06:26:49:76:F3:74:60:77:9A:CF:28:C5:A7:CF:E8:A3:C0:AA:E1:1A:8F:FC:EE:05:C0:BD:DF:08:C6");
        CHECK(info->subject == "CN=ISRG Root X1,O=Internet Security Research Group,C=US");
        CHECK(info->issuer == info->subject);
        CHECK(info->serial_hex == "8210CFB0D240E3594463E0BB63828B00");
        CHECK(info->not_before == "2015-06-04T11:04:38Z");
        CHECK(info->not_after == "2035-06-04T11:04:38Z");
        CHECK(info->not_after_unix == 2064567878);
        CHECK(info->key_type == "RSA");
        CHECK(info->key_bits == 4096);
        CHECK(info->signature_algorithm == "sha256WithRSAEncryption");
        CHECK(info->is_ca);
        CHECK(info->self_signed);
        CHECK(pki::certificate_pem(*der).value() == std::string(proto::as_chars(pem)));
    }

    TEST_CASE("garbage input gives the exact error id") {
        auto ca = pki::make_ca("ttig test root");
        REQUIRE(ca.has_value());

        SUBCASE("certificates") {
            CHECK(id_of(pki::certificate_der(view(""))) == "pki.no_certificate");
            CHECK(id_of(pki::certificate_der(view(" \n"))) == "pki.no_certificate");
            CHECK(id_of(pki::certificate_der(view("hello world"))) == "pki.bad_der");
            CHECK(id_of(pki::certificate_der(view("LETS NOT ENCRYPT"))) == "pki.bad_der");
            CHECK(id_of(pki::certificate_der(view("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"))) ==
                  "pki.bad_pem");
            CHECK(id_of(pki::certificate_der(view("-----BEGIN CERTIFICATE-----\nMIIB\n"))) == "pki.bad_pem");
            CHECK(id_of(pki::certificate_der(view(pki::pem_encode("CERTIFICATE", view("LETS NOT ENCRYPT"))))) ==
                  "pki.bad_pem");
            CHECK(id_of(pki::certificate_der(view("--- not pem at all"))) == "pki.no_certificate");
            CHECK(id_of(pki::certificate_der(view(ca->key_pem))) == "pki.no_certificate");
            CHECK(id_of(pki::certificate_chain(view(ca->key_pem))) == "pki.no_certificate");

            bytes trailing = ca->cert_der;
            trailing.push_back(0);
            auto r = pki::certificate_der(trailing);
            CHECK(id_of(r) == "pki.bad_der");
            CHECK(r.err().detail.find("1 trailing bytes") != std::string::npos);
            bytes truncated(ca->cert_der.begin(), ca->cert_der.end() - 1);
            CHECK(id_of(pki::certificate_der(truncated)) == "pki.bad_der");
        }
        SUBCASE("inspection: the detail carries the OpenSSL reason") {
            auto r = pki::inspect_certificate(proto::as_bytes("garbage"));
            CHECK(id_of(r) == "pki.bad_der");
            CHECK(r.err().detail.find("error:") != std::string::npos);
            CHECK(id_of(pki::inspect_certificate(proto::byte_view())) == "pki.bad_der");
        }
        SUBCASE("keys") {
            CHECK(id_of(pki::private_key_der(view(""))) == "pki.no_key");
            CHECK(id_of(pki::private_key_der(view(ca->cert_pem))) == "pki.no_key");
            CHECK(id_of(pki::private_key_der(view("Authorization: token\r\n"))) == "pki.bad_key");
            CHECK(id_of(pki::private_key_der(view(pki::pem_encode("PRIVATE KEY", view("junk"))))) == "pki.bad_key");
            CHECK(id_of(pki::private_key_der(view(pki::pem_encode("RSA PRIVATE KEY", ca->key_der)))) == "pki.bad_key");
            CHECK(id_of(pki::private_key_der(view("-----BEGIN PRIVATE KEY-----\n%%%\n-----END PRIVATE KEY-----\n"))) ==
                  "pki.bad_pem");
            CHECK(id_of(pki::private_key_der(ca->cert_der)) == "pki.bad_key");
        }
        SUBCASE("Ed25519 has no station key form") {
            std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"),
                                                                    EVP_PKEY_free);
            REQUIRE(key);
            std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
            REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
            char* p = nullptr;
            long n = BIO_get_mem_data(bio.get(), &p);
            auto r = pki::private_key_der(
                proto::byte_view(reinterpret_cast<const std::uint8_t*>(p), static_cast<std::size_t>(n)));
            CHECK(id_of(r) == "pki.unsupported_key");
            CHECK(r.err().detail.find("ED25519") != std::string::npos);
        }
        SUBCASE("files") {
            auto r = pki::load_file(data_dir + "does-not-exist.pem");
            CHECK(id_of(r) == "pki.unreadable");
            CHECK(r.err().detail.find("does-not-exist.pem: No such file or directory") != std::string::npos);
            CHECK(id_of(pki::load_file(data_dir)) == "pki.unreadable");
            CHECK(id_of(pki::load_file(std::string(TTIG_SOURCE_DIR) + "/certs/isrg-root-x1.pem", 100)) == "pki.unreadable");
        }
        SUBCASE("generator parameters") {
            CHECK(id_of(pki::make_ca("")) == "pki.bad_parameter");
            CHECK(id_of(pki::make_ca("x", pki::key_kind::ec_p256, 0)) == "pki.bad_parameter");
            CHECK(id_of(pki::make_leaf(*ca, "leaf", {"a b"})) == "pki.bad_parameter");
            CHECK(id_of(pki::make_leaf(*ca, "leaf", {"a,DNS:b"})) == "pki.bad_parameter");
            CHECK(id_of(pki::make_leaf(*ca, "leaf", {""})) == "pki.bad_parameter");
            CHECK(id_of(pki::make_leaf(*ca, "leaf", {"x"}, pki::key_kind::ec_p256, -1)) == "pki.bad_parameter");
            auto other = pki::make_ca("other root");
            REQUIRE(other.has_value());
            pki::key_and_cert mixed{other->key_der, ca->cert_der, {}, {}};
            CHECK(id_of(pki::make_leaf(mixed, "leaf", {"x"})) == "pki.bad_parameter");
            pki::key_and_cert no_cert{ca->key_der, proto::to_bytes("junk"), {}, {}};
            CHECK(id_of(pki::make_leaf(no_cert, "leaf", {"x"})) == "pki.bad_der");
            pki::key_and_cert no_key{proto::to_bytes("junk"), ca->cert_der, {}, {}};
            CHECK(id_of(pki::make_leaf(no_key, "leaf", {"x"})) == "pki.bad_key");
        }
    }

}  // TEST_SUITE
