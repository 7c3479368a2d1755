// flashgmm: Gaussian mixtures at any N, from the command line.
#include <cstdio>

#include "commands.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"flashgmm " FLASHGMM_VERSION_STRING
               ": fit Gaussian mixture models without materialising the N×K responsibilities"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FLASHGMM_VERSION_STRING);
  flashgmm::cli::add_fit(app);
  flashgmm::cli::add_score(app);
  flashgmm::cli::add_predict(app);
  flashgmm::cli::add_generate(app);
  flashgmm::cli::add_info(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const flashgmm::Error& e) {
    std::fprintf(stderr, "flashgmm: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashgmm: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
