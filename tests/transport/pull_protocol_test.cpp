// The pull DP messages: what one side writes, the other reads back the same; anything malformed
// is refused naming the field.

#include "pkgxfer/transport/pull_protocol.h"

#include <gtest/gtest.h>

namespace pkgxfer::transport::pull {
namespace {

content::Manifest sampleManifest() {
  content::Manifest m;
  m.package_id = "PS100001";
  m.version = 3;
  m.name = "Office";
  content::ManifestFile f;
  f.path = "bin/setup.exe";
  f.size = 5;
  f.sha256 = std::string(64, 'a');
  f.mtime = 1700000000000000000;
  f.attributes = 0644;
  m.files.push_back(f);
  content::canonicalizeManifest(m);
  return m;
}

TEST(PullProtocolTest, ANotificationReadsBackTheSame) {
  Notification n;
  n.job_id = 42;
  n.dp = "pdp01";
  n.redistribute = true;
  n.manifest = sampleManifest();
  n.sources = {"http://dp03:8531", "https://dp01:8531/base"};
  n.status_url = "http://site:8530";
  auto back = parseNotification(toJson(n));
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(back->job_id, 42);
  EXPECT_EQ(back->dp, "pdp01");
  EXPECT_TRUE(back->redistribute);
  EXPECT_EQ(back->manifest, n.manifest);
  EXPECT_EQ(back->sources, n.sources);
  EXPECT_EQ(back->status_url, n.status_url);
}

TEST(PullProtocolTest, AMalformedNotificationIsRefusedNamingTheField) {
  Notification n;
  n.job_id = 1;
  n.dp = "pdp01";
  n.manifest = sampleManifest();
  n.sources = {"http://dp03:8531"};
  const std::string good = toJson(n);
  auto with = [&](const std::string& field, const std::string& value) {
    std::string text = good;
    const auto at = text.find("\"" + field + "\":");
    EXPECT_NE(at, std::string::npos) << field;
    const auto start = at + field.size() + 3;
    std::size_t end = start;
    int depth = 0;
    for (; end < text.size(); ++end) {
      const char c = text[end];
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') {
        if (depth == 0) break;
        --depth;
      }
      if (c == ',' && depth == 0) break;
    }
    return text.substr(0, start) + value + text.substr(end);
  };
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, std::string>>{{"job_id", "0"},
                                                        {"job_id", "\"1\""},
                                                        {"dp", "7"},
                                                        {"sources", "[]"},
                                                        {"sources", "[\"ftp://x\"]"},
                                                        {"version", "9"},
                                                        {"manifest", "{}"},
                                                        {"redistribute", "\"yes\""}}) {
    auto r = parseNotification(with(field, value));
    EXPECT_EQ(r.status().code(), Status::Code::InvalidArgument) << field << " = " << value;
  }
  EXPECT_FALSE(parseNotification("not json").ok());
  EXPECT_FALSE(parseNotification("[]").ok());
}

TEST(PullProtocolTest, AJobStatusReadsBackTheSame) {
  JobStatus s;
  s.job_id = 9;
  s.dp = "pdp01";
  s.package_id = "PS100001";
  s.version = 3;
  s.state = PullState::Failed;
  s.sequence = 17;
  s.bytes_total = 100;
  s.bytes_done = 40;
  s.files_total = 2;
  s.files_done = 1;
  s.error = "no source has body aaaa...: dp03 answered 404";
  s.source = "http://dp03:8531";
  auto back = parseJobStatus(toJson(s));
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(back->state, PullState::Failed);
  EXPECT_EQ(back->sequence, 17u);
  EXPECT_EQ(back->bytes_done, 40u);
  EXPECT_EQ(back->error, s.error);
  EXPECT_EQ(back->source, s.source);
  for (PullState st : {PullState::Queued, PullState::Downloading, PullState::Installed}) {
    s.state = st;
    auto again = parseJobStatus(toJson(s));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->state, st);
  }
  EXPECT_FALSE(parseJobStatus(R"({"job_id": 1, "dp": "p", "package_id": "PS100001",
    "version": 1, "state": "lost", "sequence": 1})")
                   .ok());
  EXPECT_FALSE(parseJobStatus(R"({"job_id": 1, "dp": "p", "package_id": "PS100001",
    "version": 1, "state": "queued", "sequence": 1, "bytes_total": 1, "bytes_done": 2})")
                   .ok());
}

}  // namespace
}  // namespace pkgxfer::transport::pull
