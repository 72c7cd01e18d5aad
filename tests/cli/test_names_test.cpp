// The suite's own plumbing: ctest learns each test case by name (doctest_discover_tests) and runs
// it with --test-case=<name>. CMake splits a name at ';', so such a test case was registered as
// two fragments that match nothing and "pass" without running. No test case name may hold one.
#include "support/run_cli.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <string>

TEST_SUITE("repo") {
    TEST_CASE("no test case name contains a semicolon (ctest would run nothing under it)") {
        const std::regex test_case(R"re(TEST_CASE(?:_FIXTURE)?\((?:[A-Za-z_:0-9]+,\s*)?"((?:[^"\\]|\\.)*)")re");
        std::size_t files = 0;
        for (const auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(TTIG_SOURCE_DIR) / "tests")) {
            if (!e.is_regular_file() || e.path().extension() != ".cpp") continue;
            ++files;
            const std::string text = ttig::test::slurp(e.path());
            for (std::sregex_iterator it(text.begin(), text.end(), test_case), end; it != end; ++it)
                CHECK_MESSAGE((*it)[1].str().find(';') == std::string::npos, e.path().filename().string() << ": " << (*it)[1].str());
        }
        CHECK(files > 20);
    }
}
