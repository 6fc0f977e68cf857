#include "mtep/server_session.h"
