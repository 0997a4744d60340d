#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"

namespace tg {

void write_file_atomic(const std::string& path, std::string_view bytes) {
  // One temporary name per call, not per process: two threads saving to the same path must
  // not write into (or rename away) each other's temporary file.
  static std::atomic<std::uint64_t> counter{0};
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter.fetch_add(1, std::memory_order_relaxed));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail<IoError>("write {}: cannot create {}: {}; check that the directory exists and is writable", path, tmp,
                  std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail<IoError>("write {}: writing failed after {} of {} bytes: {}", path, done, bytes.size(), std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail<IoError>("write {}: flushing to disk failed: {}", path, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail<IoError>("write {}: renaming {} into place failed: {}", path, tmp, std::strerror(err));
  }
}

}  // namespace tg
