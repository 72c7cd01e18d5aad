// The HTTP Date reader (doctor's P0 reads it from any server): never reads out of bounds, and a
// date it accepts writes back to the same text.
#include <ttig/proto/http.hpp>

#include <cstdint>
#include <string_view>

using namespace ttig::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view s(reinterpret_cast<const char*>(data), size);
    if (auto t = parse_http_date(s)) {
        // The weekday is not checked against the date, and a leap second (:60) rolls over: compare
        // the re-read time, not the text.
        auto again = parse_http_date(format_http_date(*t));
        if (!again || *again != *t) __builtin_trap();
    }
    return 0;
}
