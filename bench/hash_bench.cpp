// pkgxfer_hash_bench: times the content module's hashing so that bench/hash_bench.sh can compare
// it with sha256sum and `openssl dgst` in the same run (docs/performance.md).
//
//   pkgxfer_hash_bench single FILE [BUFFER_BYTES]   hashFile() on one file
//   pkgxfer_hash_bench many DIR THREADS             hashFiles() on every file under DIR
//   pkgxfer_hash_bench manifest DIR THREADS         buildManifest() twice: full, then reusing
//                                                   the first manifest's hashes (no-op re-read)
//   pkgxfer_hash_bench import DIR LIBROOT [nosync]  buildManifest() + addContentFromSource()
//
// Prints the digest (single) or a checksum line (many) and "seconds=<s> bytes=<n> files=<n>" on
// stderr. Exit code 1 on any hashing error.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/file_hasher.h"
#include "pkgxfer/content/manifest.h"

namespace fs = std::filesystem;
using pkgxfer::content::HashOptions;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: pkgxfer_hash_bench single FILE [BUFFER_BYTES]\n"
               "       pkgxfer_hash_bench many DIR THREADS\n"
               "       pkgxfer_hash_bench manifest DIR THREADS\n"
               "       pkgxfer_hash_bench import DIR LIBROOT [nosync]\n");
  return 2;
}

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  const auto start = std::chrono::steady_clock::now();
  if (mode == "single") {
    HashOptions options;
    if (argc > 3) options.buffer_size = std::strtoull(argv[3], nullptr, 10);
    auto r = pkgxfer::content::hashFile(argv[2], options);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().toString().c_str());
      return 1;
    }
    double s = since(start);
    std::printf("%s  %s\n", r->sha256.c_str(), argv[2]);
    std::fprintf(stderr, "seconds=%.4f bytes=%llu files=1\n", s,
                 static_cast<unsigned long long>(r->size));
    return 0;
  }
  if (mode == "many" && argc == 4) {
    const unsigned threads = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(argv[2], ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) {
      std::fprintf(stderr, "list %s: %s\n", argv[2], ec.message().c_str());
      return 1;
    }
    // The calling thread hashes too: a pool of THREADS-1 plus the caller = THREADS hashing threads.
    boost::asio::thread_pool pool(threads > 1 ? threads - 1 : 1);
    auto results = pkgxfer::content::hashFiles(files, pool, {}, threads == 0 ? 1 : threads);
    unsigned long long bytes = 0;
    unsigned char checksum = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) {
        std::fprintf(stderr, "%s\n", results[i].status().toString().c_str());
        return 1;
      }
      bytes += results[i]->size;
      checksum ^= static_cast<unsigned char>(results[i]->sha256[0]);
    }
    double s = since(start);
    pool.join();
    std::printf("hashed %zu files, checksum %02x\n", results.size(), checksum);
    std::fprintf(stderr, "seconds=%.4f bytes=%llu files=%zu\n", s, bytes, results.size());
    return 0;
  }
  if (mode == "manifest" && argc == 4) {
    const unsigned threads = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    boost::asio::thread_pool pool(threads > 1 ? threads - 1 : 1);
    pkgxfer::content::BuildStats stats;
    auto first = pkgxfer::content::buildManifest(argv[2], nullptr, pool, &stats);
    if (!first.ok()) {
      std::fprintf(stderr, "%s\n", first.status().toString().c_str());
      return 1;
    }
    double full = since(start);
    auto again_start = std::chrono::steady_clock::now();
    auto second = pkgxfer::content::buildManifest(argv[2], &*first, pool, &stats);
    double reuse = since(again_start);
    if (!second.ok() || stats.files_hashed != 0) return 1;
    std::printf("full=%.4f reuse=%.4f files=%zu bytes=%llu\n", full, reuse, stats.files,
                static_cast<unsigned long long>(second->total_bytes));
    return 0;
  }
  if (mode == "import" && (argc == 4 || argc == 5)) {
    boost::asio::thread_pool pool(1);
    auto m = pkgxfer::content::buildManifest(argv[2], nullptr, pool);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().toString().c_str());
      return 1;
    }
    m->package_id = "PS100001";
    m->version = 1;
    double build = since(start);
    pkgxfer::content::ContentLibrary::Options options;
    options.sync = !(argc == 5 && std::string(argv[4]) == "nosync");
    auto lib = pkgxfer::content::ContentLibrary::open(argv[3], options);
    if (!lib.ok()) {
      std::fprintf(stderr, "%s\n", lib.status().toString().c_str());
      return 1;
    }
    auto import_start = std::chrono::steady_clock::now();
    auto r = (*lib)->addContentFromSource(*m, argv[2]);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().toString().c_str());
      return 1;
    }
    double import = since(import_start);
    std::printf("build=%.4f import=%.4f bodies=%zu bytes=%llu sync=%d\n", build, import,
                r->bodies_copied, static_cast<unsigned long long>(r->bytes_copied),
                options.sync ? 1 : 0);
    return 0;
  }
  return usage();
}
