// SPDX-License-Identifier: MIT
#include "tapegrad/viz/graph.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"

extern char** environ;

namespace tg::viz {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first executable `dot` on PATH, or empty.
std::string find_dot() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/dot";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// Runs `dot -Tsvg -o rendered source` with its messages going to `log`; returns the exit
// status (or -1 when it could not start). Note: posix_spawn, not popen/system: no shell
// reads the paths, so a quote or a space in a file name cannot break the command.
// With timeout_seconds > 0, a dot still running then is killed, and the status is -2.
int run_dot(const std::string& dot, const std::string& source, const std::string& rendered, const std::string& log,
            double timeout_seconds = 0) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args{dot, "-Tsvg", "-o", rendered, source};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, dot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  int status = 0;
  if (timeout_seconds > 0) {  // poll, and kill it at the deadline
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return -2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

bool graphviz_available() { return !find_dot().empty(); }

namespace {

// Renders `dot` with Graphviz into `rendered` (dot reads the source from a temporary file
// beside it); throws IoError, naming `what`, when Graphviz is missing or fails.
void render_to(const std::string& what, const std::string& dot, const std::string& rendered,
               double timeout_seconds = 0) {
  const std::string program = find_dot();
  if (program.empty())
    fail<IoError>(
        "{}: rendering needs Graphviz's `dot` program, which is not on PATH; run `apt-get install graphviz`, or "
        "write a .dot file and render it elsewhere",
        what);
  const std::string source = rendered + ".dot", log = rendered + ".log";
  write_file_atomic(source, dot);
  const int status = run_dot(program, source, rendered, log, timeout_seconds);
  const std::string messages = read_all(log);
  std::error_code ignored;
  std::filesystem::remove(source, ignored);
  std::filesystem::remove(log, ignored);
  if (status != 0) std::filesystem::remove(rendered, ignored);
  if (status == -2)
    fail<IoError>("{}: Graphviz took longer than {} s to lay out the graph, and was stopped; draw a smaller graph",
                  what, timeout_seconds);
  if (status != 0)
    fail<IoError>("{}: Graphviz failed to render the graph (exit status {}): {}", what, status, messages);
}

}  // namespace

std::string render_svg(const std::string& dot, double timeout_seconds) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  static std::atomic<int> counter{0};
  const std::string rendered = (dir / fmt::format("tapegrad-graph.{}.{}.svg", ::getpid(), counter++)).string();
  render_to("render_svg", dot, rendered, timeout_seconds);
  std::string svg = read_all(rendered);
  std::error_code ignored;
  std::filesystem::remove(rendered, ignored);
  return svg;
}

void write_graph(const std::string& path, const std::string& dot) {
  if (ends_with(path, ".dot")) return write_file_atomic(path, dot);
  if (!ends_with(path, ".svg"))
    fail<IoError>("write_graph: {} must end in .dot (Graphviz source) or .svg (rendered with Graphviz)", path);
  // The SVG is written beside `path` and then replaces it in one rename: a failed render
  // leaves `path` as it was.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const std::string rendered =
      (dir / fmt::format(".{}.{}.tmp.svg", std::filesystem::path(path).filename().string(), ::getpid())).string();
  render_to(fmt::format("write_graph: {}", path), dot, rendered);
  std::error_code error, ignored;
  std::filesystem::rename(rendered, path, error);
  if (error) {
    std::filesystem::remove(rendered, ignored);
    fail<IoError>("write_graph: cannot write {}: {}; choose a writable path", path, error.message());
  }
}

}  // namespace tg::viz
