// The exit status of every flashgmm tool, one scheme (README "Exit codes"):
//   0  success (also --help and --version)
//   1  the job failed: a named file is missing, unreadable or malformed, a value is out of range
//      or unknown, the data are bad, no GPU, the output cannot be written. The message on stderr
//      ("<tool>: error: ...") names the problem.
//   2  the command line could not be understood: unknown option or subcommand, a required option
//      missing, a value that is not a number. CLI11's message and a pointer to --help follow.
// CLI11 alone would exit 105 for a missing file (its ValidationError) and 106, 109, ... for
// usage errors, so a script could not tell "fix your input" from "fix your command" by one rule.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <new>

#include "flashgmm/error.hpp"

namespace flashgmm::cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

/// Runs body (parse + subcommand callbacks) and maps every way it can fail onto the scheme above,
/// printing one message. CLI11 validators (ExistingFile, ranges) reject a value, not the syntax:
/// they are errors (1), printed like any other error.
inline int run_mapping_errors(CLI::App& app, const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const CLI::ValidationError& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return kExitError;
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help / version (rc 0) or the usage problem
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const flashgmm::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return kExitError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", program);
    return kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error (unexpected, please report): %s\n", program, e.what());
    return kExitError;
  }
}

/// The common case: parse argv, whose subcommand callbacks do the work.
inline int parse_and_run(CLI::App& app, int argc, char** argv, const char* program) {
  return run_mapping_errors(app, program, [&] {
    app.parse(argc, argv);
    return kExitOk;
  });
}

}  // namespace flashgmm::cli
