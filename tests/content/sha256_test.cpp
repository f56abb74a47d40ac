#include "pkgxfer/content/sha256.h"

#include <string>

#include <gtest/gtest.h>

namespace pkgxfer::content {
namespace {

std::string hexOf(std::string_view data) {
  auto r = sha256Hex(data);
  EXPECT_TRUE(r.ok());
  return *r;
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(hexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),  // 448 bits
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hexOf("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                  "klmnopqrlmnopqrsmnopqrstnopqrstu"),  // 896 bits
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(hexOf(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, StreamingEqualsOneShotAcrossChunkBoundaries) {
  std::string data;
  for (int i = 0; i < 10'000; ++i) data += static_cast<char>((i * 131) ^ (i >> 3));
  const std::string expected = hexOf(data);
  for (std::size_t chunk : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 4095u, 4096u, 9999u}) {
    Sha256 h;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      h.update(std::string_view(data).substr(off, chunk));
    }
    auto r = h.finishHex();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, expected) << "chunk " << chunk;
  }
}

TEST(Sha256Test, FinishRestartsTheHasher) {
  Sha256 h;
  h.update("abc");
  ASSERT_EQ(*h.finishHex(), hexOf("abc"));
  h.update("abc");
  EXPECT_EQ(*h.finishHex(), hexOf("abc"));
  EXPECT_EQ(*h.finishHex(), hexOf(""));
}

TEST(Sha256Test, MovedHasherKeepsState) {
  Sha256 a;
  a.update("ab");
  Sha256 b(std::move(a));
  b.update("c");
  EXPECT_EQ(*b.finishHex(), hexOf("abc"));
}

TEST(Sha256Test, HexValidation) {
  EXPECT_TRUE(isSha256Hex(std::string(64, 'a')));
  EXPECT_TRUE(isSha256Hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(isSha256Hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  EXPECT_FALSE(isSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(isSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(isSha256Hex(std::string(63, 'a') + "g"));
  EXPECT_FALSE(isSha256Hex(""));
}

}  // namespace
}  // namespace pkgxfer::content
