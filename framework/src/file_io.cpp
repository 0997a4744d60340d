// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"

namespace tg {

namespace {

namespace fs = std::filesystem;

// The process id in `name` if it is a temporary file of write_file_atomic for the file whose
// name is `file` ("<file>.tmp.<pid>.<n>"), else 0.
pid_t temporary_owner(std::string_view name, std::string_view file) {
  const std::string_view tag = ".tmp.";
  if (!name.starts_with(file) || name.substr(file.size()).substr(0, tag.size()) != tag) return 0;
  name.remove_prefix(file.size() + tag.size());
  const std::size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot + 1 == name.size()) return 0;
  const std::string_view counter = name.substr(dot + 1);
  if (counter.find_first_not_of("0123456789") != std::string_view::npos) return 0;
  pid_t pid = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + dot, pid);
  return error == std::errc() && end == name.data() + dot && pid > 0 ? pid : 0;
}

// Note: a writer killed between creating its temporary file and renaming it (SIGKILL, the
// OOM killer, a job scheduler's time limit) leaves "<path>.tmp.<pid>.<n>" behind. Nothing
// reads it, but a run that is killed and resumed again and again would collect one per
// crash, each as large as a checkpoint. So every write first removes the temporaries of
// its own path whose writer is gone: its process no longer exists and nobody holds the
// file's lock (a writer holds an flock on its temporary until the rename, and the kernel
// drops it when the process dies, so a live writer the pid test cannot see, in another pid
// namespace, is left alone). This is best effort: a temporary that cannot be removed is
// left for the next write, and never makes this one fail.
void remove_stale_temporaries(const std::string& path) {
  const fs::path target(path);
  const std::string file = target.filename().string();
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    const pid_t owner = temporary_owner(name, file);
    if (owner == 0 || owner == ::getpid()) continue;        // ours: another thread may be writing it
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM: alive, someone else's)
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(it->path().c_str());
    ::close(fd);
  }
}

// Flushes the directory holding `path`, so that the rename itself survives a power cut.
// Returns 0 or an errno value. Filesystems that cannot sync a directory (EINVAL) need not.
int sync_directory(const std::string& path) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  remove_stale_temporaries(path);
  // One temporary name per call, not per process: two threads saving to the same path must
  // not write into (or rename away) each other's temporary file.
  static std::atomic<std::uint64_t> counter{0};
  const std::string tmp =
      fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter.fetch_add(1, std::memory_order_relaxed));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  // O_EXCL: a file that already has this name was left by a dead process that had our pid
  // (ids are reused), since our own counter never repeats; it is stale, so it goes.
  if (fd < 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0)
    fail<IoError>("write {}: cannot create {}: {}; check that the directory exists and is writable", path, tmp,
                  std::strerror(errno));
  // Held until the rename: remove_stale_temporaries() in another process skips a locked file.
  ::flock(fd, LOCK_EX | LOCK_NB);
  auto give_up = [&](int err, const std::string& what) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail<IoError>("write {}: {}: {}", path, what, std::strerror(err));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up(n < 0 ? errno : EIO, fmt::format("writing failed after {} of {} bytes", done, bytes.size()));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) give_up(errno, "flushing to disk failed");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) give_up(errno, fmt::format("renaming {} into place failed", tmp));
  if (::close(fd) != 0) fail<IoError>("write {}: closing the file failed: {}", path, std::strerror(errno));
  if (int err = sync_directory(path))
    fail<IoError>(
        "write {}: the file is complete and in place, but flushing its directory failed ({}), so the rename may not "
        "survive a power cut; check the filesystem",
        path, std::strerror(err));
}

}  // namespace tg
