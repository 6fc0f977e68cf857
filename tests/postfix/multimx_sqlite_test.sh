#!/usr/bin/env bash
# NAME
#   multimx_sqlite_test.sh - multimx_test.sh's cases with [store] backend
#   "sqlite": both MX hosts on this machine share one SQLite file
# SUMMARY
#   multimx_sqlite_test.sh start|stop|CASE BUILD_DIR STATE_FILE; ... list
# DESCRIPTION
#   The same fixture and cases as tests/postfix/multimx_test.sh (see there),
#   its MX_BACKEND set to sqlite: a single host's store keeps the meaning the
#   shared Redis has (a stamp spent once, a revocation seen by the other
#   daemons); rate limits are each mtep-policyd's own, in memory.
set -uo pipefail
MX_BACKEND=sqlite
# shellcheck source=multimx_test.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/multimx_test.sh"
MP_WORK_PREFIX=mtep-multimx-sqlite
MP_FIXTURE=postfix.multimx_sqlite_start
mp_fixture_main "$@"
