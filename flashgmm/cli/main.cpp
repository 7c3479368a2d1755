// flashgmm: Gaussian mixtures at any N, from the command line.
#include "commands.hpp"
#include "exit_codes.hpp"
#include "flashgmm/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"flashgmm " FLASHGMM_VERSION_STRING
               ": fit Gaussian mixture models without materialising the N×K responsibilities"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FLASHGMM_VERSION_STRING);
  app.footer("Exit status: 0 success, 1 error (the message names it), 2 command line not understood.");
  flashgmm::cli::add_fit(app);
  flashgmm::cli::add_score(app);
  flashgmm::cli::add_predict(app);
  flashgmm::cli::add_generate(app);
  flashgmm::cli::add_info(app);
  return flashgmm::cli::parse_and_run(app, argc, argv, "flashgmm");
}
