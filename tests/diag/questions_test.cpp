// The questionnaire: asked only when the evidence cannot separate the leading causes; the answer
// becomes a user.* atom that can change the verdict.
#include <doctest/doctest.h>

#include <ttig/diag/questions.hpp>

#include <algorithm>

using namespace ttig::diag;

TEST_SUITE("diag.questions") {
    TEST_CASE("no questions for a decisive verdict or a healthy gateway") {
        verdict v;
        v.cause = "lns-key-revoked";
        v.confidence = confidence::high;
        CHECK_FALSE(needs_answers(v));
        v.cause = "healthy";
        v.confidence = confidence::low;
        CHECK_FALSE(needs_answers(v));
        v.cause = "unknown";
        CHECK(needs_answers(v));
    }

    TEST_CASE("a fresh claim that never reached CUPS: the LED and the manual-registration question separate the causes") {
        // What doctor sees for a record that never got cups-last-seen and is not connected.
        std::vector<atom> atoms{{"record.found", "P2", ""}, {"record.manual_defaults", "P2", ""}, {"attr.cups_last_seen.absent", "P2", ""},
                                {"stats.404", "P6", ""}, {"claim.supported", "P4", ""}};
        const auto v = decide(atoms);
        REQUIRE(needs_answers(v));
        const auto qs = questions_for(v, atoms);
        REQUIRE_FALSE(qs.empty());
        CHECK(qs.size() <= 3);
        CHECK(qs.front().key == "led");
        auto manual = std::find_if(qs.begin(), qs.end(), [](const question& q) { return q.key == "user.manual_registration"; });
        REQUIRE(manual != qs.end());
        // "Yes, I used the Register gateway form" makes it decisive.
        auto a = answer_atom(*manual, "yes");
        REQUIRE(a);
        atoms.push_back(*a);
        const auto after = decide(atoms);
        CHECK(after.cause == "registered-manually-not-claimed");
        CHECK(after.confidence == confidence::high);
        // Answered questions are not asked again.
        const auto again = questions_for(after, atoms);
        CHECK(std::none_of(again.begin(), again.end(), [](const question& q) { return q.key == "user.manual_registration"; }));
    }

    TEST_CASE("an LED answer must be one of the patterns — no adds nothing") {
        question led{"led", "", {"green_solid", "red_blink_fast"}};
        CHECK(answer_atom(led, "red_blink_fast")->id == "user.led.red_blink_fast");
        CHECK_FALSE(answer_atom(led, "purple"));
        question yn{"user.recreated", "Did you delete the gateway and add it again?", {}};
        CHECK_FALSE(answer_atom(yn, "no"));
        CHECK(answer_atom(yn, "y")->id == "user.recreated");
    }

    TEST_CASE("nothing to go on: the device questions are asked") {
        const auto v = decide({});
        REQUIRE(v.cause == "unknown");
        const auto qs = questions_for(v, {});
        REQUIRE_FALSE(qs.empty());
        CHECK(qs.front().key == "led");
    }
}
