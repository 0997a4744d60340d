#include "tapegrad/viz/graph.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
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
int run_dot(const std::string& dot, const std::string& source, const std::string& rendered, const std::string& log) {
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

void write_graph(const std::string& path, const std::string& dot) {
  if (ends_with(path, ".dot")) return write_file_atomic(path, dot);
  if (!ends_with(path, ".svg"))
    fail<IoError>("write_graph: {} must end in .dot (Graphviz source) or .svg (rendered with Graphviz)", path);
  const std::string program = find_dot();
  if (program.empty())
    fail<IoError>(
        "write_graph: rendering {} needs Graphviz's `dot` program, which is not on PATH; run `apt-get install "
        "graphviz`, or write a .dot file and render it elsewhere",
        path);
  // dot reads the source from a temporary file and writes the SVG to another beside `path`,
  // which then replaces `path` in one rename: a failed render leaves `path` as it was.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const std::string base =
      (dir / fmt::format(".{}.{}", std::filesystem::path(path).filename().string(), ::getpid())).string();
  const std::string source = base + ".dot", rendered = base + ".tmp.svg", log = base + ".log";
  write_file_atomic(source, dot);
  const int status = run_dot(program, source, rendered, log);
  const std::string messages = read_all(log);
  std::error_code ignored;
  std::filesystem::remove(source, ignored);
  std::filesystem::remove(log, ignored);
  if (status != 0) {
    std::filesystem::remove(rendered, ignored);
    fail<IoError>("write_graph: Graphviz failed to render {} (exit status {}): {}", path, status, messages);
  }
  std::error_code error;
  std::filesystem::rename(rendered, path, error);
  if (error) {
    std::filesystem::remove(rendered, ignored);
    fail<IoError>("write_graph: cannot write {}: {}; choose a writable path", path, error.message());
  }
}

}  // namespace tg::viz
