#include "msg.h"

#include <string.h>

static const char *const table[EVD_MSG_COUNT][2] = {
#define EVD_MSG_ROW(key, zh, en) [EVD_MSG_##key] = { zh, en },
        EVD_MSGS(EVD_MSG_ROW)
#undef EVD_MSG_ROW
};

const char *evd_msg(enum evd_lang lang, enum evd_msg msg)
{
        if ((unsigned)msg >= EVD_MSG_COUNT)
                return "";
        return table[msg][lang == EVD_LANG_EN ? 1 : 0];
}

enum evd_lang evd_msg_lang(const char *name)
{
        return name && strcmp(name, "en") == 0 ? EVD_LANG_EN : EVD_LANG_ZH;
}
