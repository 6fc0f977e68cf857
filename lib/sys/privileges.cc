#include "sys/privileges.h"
