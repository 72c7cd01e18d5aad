// Every cause id is unique, documented in docs/errors.md, and has a message.
#include <ttig/proto/error.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace ttig::proto;

TEST_SUITE("proto.error") {
    TEST_CASE("every proto cause id is unique, has a message and is listed in docs/errors.md") {
        std::ifstream in(std::string(TTIG_SOURCE_DIR) + "/docs/errors.md");
        REQUIRE(in.good());
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string doc = ss.str();
        std::set<std::string> seen;
        for (const auto* cat : categories()) {
            for (const auto& e : cat->entries()) {
                const std::string id = cat->id(e.value);
                CAPTURE(id);
                CHECK(seen.insert(id).second);
                CHECK_FALSE(e.message.empty());
                CHECK(doc.find("| `" + id + "` |") != std::string::npos);
            }
        }
        CHECK(seen.size() >= 20);
    }

    TEST_CASE("error::what has the [id] message: detail shape") {
        auto e = make_error(cups_errc::truncated, "body ends at byte {}", 3);
        CHECK(e.what() == "[cups.truncated] CUPS response truncated: body ends at byte 3");
        CHECK(make_error(cups_errc::missing_router).what() == "[cups.missing_router] missing router");
        CHECK(cause_id(std::make_error_code(std::errc::no_such_file_or_directory)) == "sys.generic.2");
    }
}
