// libFuzzer target: the manifest reader (content/manifest.h), which reads what a DP's DataLib or a
// DP's HTTP answer holds: untrusted text. Properties: no crash, UB or exception; an accepted
// manifest is valid, writes back (toJson) to text that parses to the same manifest, and that text
// is stable (writing it again gives the same bytes).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pkgxfer/content/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pkgxfer::fuzz::check;
  namespace content = pkgxfer::content;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto m = content::parseManifest(text);
  if (!m.ok()) {
    check(m.error().code() == pkgxfer::Status::Code::Corruption,
          "a rejected manifest is Corruption");
    return 0;
  }
  check(content::validateManifest(*m).ok(), "an accepted manifest is valid");
  const std::string json = content::toJson(*m);
  auto again = content::parseManifest(json);
  check(again.ok(), "toJson() of an accepted manifest parses");
  check(*again == *m, "toJson() then parseManifest() gives the same manifest");
  check(content::toJson(*again) == json, "toJson() is stable");
  check(content::sameContent(*again, *m), "a manifest has the same content as itself");

  const content::ContentDiff none = content::diffContent(*m, {});
  check(none.missing.size() == content::uniqueBodies(*m).size(),
        "with nothing present every distinct body is missing");
  return 0;
}
