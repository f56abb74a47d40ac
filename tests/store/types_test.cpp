#include "pkgxfer/store/types.h"

#include <gtest/gtest.h>

#include <chrono>

namespace pkgxfer::store {
namespace {

using namespace std::chrono;

Timestamp at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s) +
         milliseconds(ms);
}

// Verifies the column format is ISO-8601 UTC with milliseconds, as SPEC's example shows.
TEST(TimestampTest, FormatsIsoUtcWithMilliseconds) {
  EXPECT_EQ(formatTimestamp(at(2026, 11, 25, 14, 5, 9, 118)), "2026-11-25T14:05:09.118Z");
  EXPECT_EQ(formatTimestamp(Timestamp{}), "1970-01-01T00:00:00.000Z");
  // Sub-millisecond digits are dropped, never rounded up into the next millisecond.
  EXPECT_EQ(formatTimestamp(at(2026, 12, 31, 23, 59, 59, 999) + microseconds(999)),
            "2026-12-31T23:59:59.999Z");
}

// Verifies parse is the exact inverse of format and rejects anything else.
TEST(TimestampTest, ParsesOnlyTheExactForm) {
  auto parsed = parseTimestamp("2026-11-25T14:05:09.118Z");
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_EQ(*parsed, at(2026, 11, 25, 14, 5, 9, 118));
  for (const char* bad :
       {"", "2026-11-25T14:05:09Z", "2026-11-25 14:05:09.118Z", "2026-02-30T00:00:00.000Z",
        "2026-11-25T24:00:00.000Z", "2026-11-25T14:05:09.118+01", "x026-11-25T14:05:09.118Z"}) {
    auto result = parseTimestamp(bad);
    EXPECT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), Status::Code::InvalidArgument) << bad;
  }
}

// Verifies text order matches time order, which the retry query relies on.
TEST(TimestampTest, TextSortsLikeTime) {
  EXPECT_LT(formatTimestamp(at(2026, 1, 2, 3, 4, 5, 6)),
            formatTimestamp(at(2026, 1, 2, 3, 4, 5, 7)));
  EXPECT_LT(formatTimestamp(at(999 + 1000, 12, 31, 23, 59, 59, 999)),
            formatTimestamp(at(2000, 1, 1, 0, 0, 0, 0)));
}

// Verifies every enumeration round-trips through its stored spelling.
TEST(EnumTest, RoundTrips) {
  for (auto v :
       {DistributionState::Waiting, DistributionState::Checking, DistributionState::Transferring,
        DistributionState::Verifying, DistributionState::WaitingSource, DistributionState::Notified,
        DistributionState::Pulling, DistributionState::Installed, DistributionState::Retrying,
        DistributionState::Failed, DistributionState::Removing, DistributionState::Removed}) {
    auto parsed = parseDistributionState(toString(v));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, v);
  }
  EXPECT_EQ(toString(DistributionState::WaitingSource), "waiting_source");
  for (auto v : {JobState::Queued, JobState::Running, JobState::Paused, JobState::Done,
                 JobState::Failed, JobState::Superseded, JobState::Cancelled}) {
    EXPECT_EQ(*parseJobState(toString(v)), v);
  }
  for (auto v : {RequestKind::Distribute, RequestKind::Redistribute, RequestKind::Validate,
                 RequestKind::Remove}) {
    EXPECT_EQ(*parseRequestKind(toString(v)), v);
  }
  for (auto v :
       {RequestState::Pending, RequestState::Taken, RequestState::Done, RequestState::Rejected}) {
    EXPECT_EQ(*parseRequestState(toString(v)), v);
  }
  for (auto v : {JobAction::Add, JobAction::Redistribute, JobAction::Validate, JobAction::Remove}) {
    EXPECT_EQ(*parseJobAction(toString(v)), v);
  }
  for (auto v : {Priority::High, Priority::Medium, Priority::Low}) {
    EXPECT_EQ(*parsePriority(toString(v)), v);
  }
}

// Verifies an unknown spelling is refused with the accepted values in the message.
TEST(EnumTest, RejectsUnknownSpelling) {
  auto parsed = parsePriority("urgent");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(parsed.status().message().find("high, medium, low"), std::string::npos);
  EXPECT_FALSE(parseDistributionState("Installed").ok());
}

TEST(EnumTest, TerminalJobStates) {
  EXPECT_FALSE(isTerminal(JobState::Queued));
  EXPECT_FALSE(isTerminal(JobState::Running));
  EXPECT_FALSE(isTerminal(JobState::Paused));
  EXPECT_TRUE(isTerminal(JobState::Done));
  EXPECT_TRUE(isTerminal(JobState::Failed));
  EXPECT_TRUE(isTerminal(JobState::Superseded));
  EXPECT_TRUE(isTerminal(JobState::Cancelled));
}

TEST(ValidationTest, PackageIds) {
  EXPECT_TRUE(isValidPackageId("PS100001"));
  EXPECT_TRUE(isValidPackageId("P0100ABF"));
  EXPECT_FALSE(isValidPackageId("PS10000a"));  // hex is stored upper case
  EXPECT_FALSE(isValidPackageId("ps100001"));
  EXPECT_FALSE(isValidPackageId("PS10001"));
  EXPECT_FALSE(isValidPackageId("PS1000001"));
  EXPECT_FALSE(isValidPackageId("PS1G0001"));
}

TEST(ValidationTest, Sha256) {
  EXPECT_TRUE(isValidSha256(std::string(64, 'a')));
  EXPECT_FALSE(isValidSha256(std::string(64, 'A')));
  EXPECT_FALSE(isValidSha256(std::string(63, 'a')));
  EXPECT_FALSE(isValidSha256(std::string(64, 'g')));
}

}  // namespace
}  // namespace pkgxfer::store
