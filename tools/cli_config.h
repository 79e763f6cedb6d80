// tools/cli_config.h — `m2mdb serve`'s configuration beyond its flags: a
// TOML file (--config FILE, or $M2MDB_CONFIG) and M2MDB_* environment
// variables, one key and one variable per flag (docs/operations.md,
// "Configuration").
//
// Names come from the flag: --head-memory-mb is the key head_memory_mb and
// the variable M2MDB_HEAD_MEMORY_MB, so a flag added to serve is configurable
// with no code here. Precedence: flags > environment > file > defaults.
#ifndef M2MDB_TOOLS_CLI_CONFIG_H_
#define M2MDB_TOOLS_CLI_CONFIG_H_

#include <string>

#include "CLI/CLI.hpp"

#include "m2mdb/status.h"

namespace m2mdb::cli {

// After `cmd` was parsed from the command line: gives every configurable
// option that was not on the command line its value from the environment,
// else from `config_file` (when non-empty; else $M2MDB_CONFIG when set),
// running the option's validators. Errors name the source: the file, line
// and key ("m2mdb.toml:3: unknown key \"htp\""), or the variable.
// Options marked configurable(false) are neither keys nor variables.
Status ApplyConfig(CLI::App* cmd, const std::string& config_file);

// Every configurable option of `cmd` with its value after ApplyConfig, as a
// TOML config file (each key under a comment with its help text), in flag
// order. Loading it gives the same configuration.
std::string EffectiveConfig(CLI::App* cmd);

}  // namespace m2mdb::cli

#endif  // M2MDB_TOOLS_CLI_CONFIG_H_
