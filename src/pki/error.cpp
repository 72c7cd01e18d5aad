#include <ttig/pki/error.hpp>

#include <array>

namespace ttig::pki {

namespace {

constexpr int v(pki_errc e) { return static_cast<int>(e); }

constexpr std::array pki_table{
    proto::errc_entry{v(pki_errc::bad_pem), "bad_pem", "malformed PEM data"},
    proto::errc_entry{v(pki_errc::bad_der), "bad_der", "not a DER-encoded X.509 certificate"},
    proto::errc_entry{v(pki_errc::bad_key), "bad_key", "not a usable private key"},
    proto::errc_entry{v(pki_errc::no_certificate), "no_certificate", "no certificate found"},
    proto::errc_entry{v(pki_errc::no_key), "no_key", "no private key found"},
    proto::errc_entry{v(pki_errc::unsupported_key), "unsupported_key", "key type is neither RSA nor EC"},
    proto::errc_entry{v(pki_errc::unreadable), "unreadable", "cannot read file"},
    proto::errc_entry{v(pki_errc::bad_parameter), "bad_parameter", "invalid certificate parameter"},
    proto::errc_entry{v(pki_errc::generate_failed), "generate_failed", "key or certificate generation failed"},
};

constinit const proto::table_category pki_cat{"pki", pki_table};

constexpr std::array<const proto::table_category*, 1> pki_cats{&pki_cat};

}  // namespace

const proto::table_category& pki_category() noexcept { return pki_cat; }

std::span<const proto::table_category* const> categories() noexcept { return pki_cats; }

}  // namespace ttig::pki
