// The HTTP Date header (RFC 9110 §5.6.7), as Go's net/http writes it; doctor's clock check (P0)
// reads it. Expected strings are the RFC's own example and hand-computed dates.
#include <doctest/doctest.h>

#include <ttig/proto/http.hpp>

using namespace ttig::proto;
using namespace std::chrono;

TEST_SUITE("proto.http_date") {
    TEST_CASE("the RFC 9110 example reads and writes back") {
        const auto t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        REQUIRE(t);
        CHECK(t->time_since_epoch().count() == 784111777);  // date -u -d '1994-11-06 08:49:37' +%s
        CHECK(format_http_date(*t) == "Sun, 06 Nov 1994 08:49:37 GMT");
        CHECK(format_http_date(sys_seconds{seconds{0}}) == "Thu, 01 Jan 1970 00:00:00 GMT");
        CHECK(format_http_date(sys_seconds{seconds{1767225600}}) == "Thu, 01 Jan 2026 00:00:00 GMT");
    }

    TEST_CASE("other forms and broken dates are refused, not guessed") {
        for (const char* bad : {"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 UTC",
                                "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                                "Sun, 06 Foo 1994 08:49:37 GMT", "", "Sun, 0a Nov 1994 08:49:37 GMT"})
            CHECK_MESSAGE(!parse_http_date(bad), bad);
    }
}
