/* msg: every string the web console shows, in Chinese (the default) and English, in
 * one table. A page asks for evd_msg(lang, EVD_MSG_...); the board's script gets the
 * strings it needs from data attributes of the page. */
#ifndef EVD_MSG_H
#define EVD_MSG_H

enum evd_lang {
        EVD_LANG_ZH,
        EVD_LANG_EN,
};

#define EVD_MSGS(X)                                                                                \
        X(TITLE, "执法记录仪采集站", "Evidence docking station")                                   \
        X(NAV_BOARD, "看板", "Board")                                                              \
        X(NAV_ITEMS, "记录", "Items")                                                              \
        X(NAV_LABEL, "标注", "Label")                                                              \
        X(NAV_EXPORT, "导出", "Export")                                                            \
        X(NAV_ACCESS, "调阅", "Access register")                                                   \
        X(NAV_COMPLIANCE, "合规", "Compliance")                                                    \
        X(NAV_AUDIT, "审计", "Audit")                                                              \
        X(NAV_ADMIN, "管理", "Admin")                                                              \
        X(LANG_OTHER, "English", "中文")                                                           \
        X(SIGN_IN, "登录", "Sign in")                                                              \
        X(SIGN_OUT, "退出", "Sign out")                                                            \
        X(USER, "用户名", "User name")                                                             \
        X(PASSWORD, "密码", "Password")                                                            \
        X(SIGNED_IN_AS, "当前用户", "Signed in as")                                                \
        X(BAD_LOGIN, "登录失败", "Sign-in failed")                                                 \
        X(NEED_SIGN_IN, "请先登录", "Please sign in")                                              \
        X(SAFE, "可以拔出", "Safe to remove")                                                      \
        X(ST_DOCKED, "已接入", "Docked")                                                           \
        X(ST_SCANNING, "正在读取目录", "Scanning")                                                 \
        X(ST_COPYING, "正在复制", "Copying")                                                       \
        X(ST_DONE, "已完成", "Done")                                                               \
        X(ST_INTERRUPTED, "已中断，请重新插入", "Interrupted: dock it again")                      \
        X(ST_FAILED, "失败", "Failed")                                                             \
        X(PORT, "端口", "Port")                                                                    \
        X(SERIAL, "记录仪编号", "Recorder")                                                        \
        X(HOLDER, "持有人", "Holder")                                                              \
        X(FILES, "文件", "Files")                                                                  \
        X(RATE, "速度", "Speed")                                                                   \
        X(TIME_LEFT, "剩余时间", "Time left")                                                      \
        X(REJECTED, "未读取的设备", "Device not read")                                             \
        X(NO_DOCKS, "暂无记录仪接入", "No recorder docked")                                        \
        X(HEALTH, "采集站状态", "Station health")                                                  \
        X(FREE_SPACE, "可用空间", "Free space")                                                    \
        X(ITEMS_TOTAL, "记录总数", "Items stored")                                                 \
        X(SCRUB, "定期校验", "Fixity checks")                                                      \
        X(SCRUB_OFF, "未开启", "off")                                                              \
        X(SCRUB_RUNNING, "进行中", "running")                                                      \
        X(SCRUB_IDLE, "空闲", "idle")                                                              \
        X(ALARMS, "校验告警", "fixity alarms")                                                     \
        X(WARNINGS, "提示", "Warnings")                                                            \
        X(OFFLINE, "无法连接采集站服务", "The station service cannot be reached")                  \
        X(F_ID, "编号", "ID")                                                                      \
        X(F_RECORDED, "录制时间", "Recorded")                                                      \
        X(F_INGESTED, "存储时间", "Stored")                                                        \
        X(F_DEADLINE, "存储期限", "Deadline")                                                      \
        X(F_FILE, "原始文件", "Original file")                                                     \
        X(F_SIZE, "大小", "Size")                                                                  \
        X(F_CASE, "案件编号", "Case number")                                                       \
        X(F_PARTY, "当事人", "Party")                                                              \
        X(F_HANDLER, "执法人员", "Handler")                                                        \
        X(F_LATE, "逾期存储", "Stored late")                                                       \
        X(F_INTEGRITY, "完整性", "Integrity")                                                      \
        X(F_RETAIN, "保存至", "Retained until")                                                    \
        X(F_SINCE, "起始日期", "From")                                                             \
        X(F_UNTIL, "截止日期", "Until")                                                            \
        X(F_UNLABELED, "未标注", "Unlabelled")                                                     \
        X(F_OVERDUE, "逾期未标注", "Overdue")                                                      \
        X(F_SESSION, "对接批次", "Dock session")                                                   \
        X(F_NOTES, "说明", "Notes")                                                                \
        X(F_OCCURRENCES, "重复出现", "Occurrences")                                                \
        X(F_GAPS, "序号缺失", "Sequence gaps")                                                     \
        X(F_MEDIA, "媒体信息", "Media")                                                            \
        X(F_HISTORY, "审计记录", "Audit history")                                                  \
        X(FILTER, "筛选", "Filter")                                                                \
        X(PREV, "上一页", "Previous")                                                              \
        X(NEXT, "下一页", "Next")                                                                  \
        X(PAGE, "页", "Page")                                                                      \
        X(TOTAL, "条记录", "items")                                                                \
        X(NONE_FOUND, "没有符合条件的记录", "No items match")                                      \
        X(YES, "是", "yes")                                                                        \
        X(NO, "否", "no")                                                                          \
        X(LABEL_HELP, "勾选记录，或填写对接批次号", "Tick items, or give a dock session")          \
        X(LABEL_SUBMIT, "提交标注", "Label")                                                       \
        X(LABEL_DONE, "已标注的记录数", "Items labelled")                                          \
        X(CASE_BAD, "案件编号格式不正确", "The case number does not match the pattern")            \
        X(REQUIRED, "必填", "required")                                                            \
        X(CHOOSE, "请选择记录或对接批次", "Choose items or a dock session")                        \
        X(FORBIDDEN, "无权限", "Not allowed")                                                      \
        X(FORBIDDEN_TEXT, "当前账号的角色不能使用此页面", "Your role may not use this page")       \
        X(BAD_CSRF, "请求无效，请刷新页面后重试", "Invalid request: reload the page and retry")    \
        X(NOT_FOUND, "未找到", "Not found")                                                        \
        X(FAILED, "操作失败", "Failed")                                                            \
        X(BACK, "返回", "Back")                                                                    \
        X(NOT_YET, "此页面尚未提供", "This page is not available yet")                             \
        X(BAD_LOGIN_TEXT, "用户名或密码错误。连续失败5次，账号将锁定5分钟。",                      \
          "Wrong user name or password. After 5 failures the account is locked for 5 minutes.")    \
        X(BUSY, "采集站繁忙，请稍后重试", "The station is busy: try again in a moment")            \
        X(DAYS_LEFT, "按近期存储速度可用天数", "Days left at the recent rate")                     \
        X(REPLICATION, "异地备份延迟", "Replication lag")                                          \
        X(X_CASE, "按案件", "A case")                                                              \
        X(X_ITEMS, "按记录编号", "Items by number")                                                \
        X(X_MAKER, "制作人", "Maker")                                                              \
        X(X_EXTRACTOR, "提取人", "Extractor")                                                      \
        X(X_APPROVER, "批准人", "Approver")                                                        \
        X(X_REASON, "事由", "Reason")                                                              \
        X(X_MEDIUM, "光盘类型", "Medium")                                                          \
        X(X_ONE, "不分卷", "one volume")                                                           \
        X(X_SUBMIT, "制作光盘镜像", "Make the disc image")                                         \
        X(X_DONE, "光盘镜像已签名，请下载", "The signed disc image is ready to download")          \
        X(X_VOLUME, "卷", "Volume")                                                                \
        X(DOWNLOAD, "下载", "Download")                                                            \
        X(A_REQUESTER, "调阅人", "Requester")                                                      \
        X(A_KIND, "方式", "Kind")                                                                  \
        X(A_VIEW, "调阅（查看）", "View")                                                          \
        X(A_COPY, "复制（下载原件）", "Copy (download the original)")                              \
        X(A_SUBMIT, "登记", "Register")                                                            \
        X(A_DONE, "已登记", "Registered")                                                          \
        X(A_LOG, "调阅登记簿", "Access register")                                                  \
        X(A_TIME, "时间", "Time")                                                                  \
        X(A_ITEM, "记录", "Item")                                                                  \
        X(A_BY, "经办人", "By")                                                                    \
        X(C_YEAR, "年度", "Year")                                                                  \
        X(C_RATE_MONTH, "每月按时存储率", "On-time storage rate per month")                        \
        X(C_RATE_HANDLER, "各执法人员按时存储率", "On-time storage rate per handler")              \
        X(C_LATE_LIST, "逾期存储的记录", "Recordings stored late")                                 \
        X(C_OVERDUE_LIST, "逾期未标注的记录", "Recordings unlabelled past the deadline")           \
        X(C_TOTAL, "总数", "Total")                                                                \
        X(C_ON_TIME, "按时", "On time")                                                            \
        X(C_RATE, "按时率", "On-time rate")                                                        \
        X(C_PRINT, "打印（A4）", "Print (A4)")                                                     \
        X(C_MONTH, "月份", "Month")                                                                \
        X(C_NOBODY, "（无人持有）", "(nobody)")                                                    \
        X(U_EVENT, "事件", "Event")                                                                \
        X(U_ACTOR, "操作人", "Actor")                                                              \
        X(U_SUBJECT, "对象", "Subject")                                                            \
        X(U_DETAILS, "详情", "Details")                                                            \
        X(U_SEARCH, "包含文字", "Containing")                                                      \
        X(U_VERIFY, "校验存储与审计日志", "Verify the store and the audit log")                    \
        X(U_OK, "校验通过", "Verified: everything matches")                                        \
        X(U_BAD, "校验发现问题", "Verification found problems")                                    \
        X(M_RECORDERS, "记录仪及持有人", "Recorders and their holders")                            \
        X(M_ACCOUNTS, "账号", "Accounts")                                                          \
        X(M_ROLE, "角色", "Role")                                                                  \
        X(M_STATE, "状态", "State")                                                                \
        X(M_HOLD, "保全（禁止删除）", "Hold (never purged)")                                       \
        X(M_RELEASE, "解除保全", "Release")                                                        \
        X(M_EVIDENCE, "标记为证据", "Mark as evidence")                                            \
        X(M_ALSO, "另一案件也使用", "Serves another case too")                                     \
        X(M_ITEMS, "记录编号（空格分隔）", "Item numbers (space-separated)")                       \
        X(M_PURGE, "清理过期记录", "Purge expired items")                                          \
        X(M_DRY_RUN, "仅预览，不删除", "Dry run: delete nothing")                                  \
        X(M_SUBMIT, "执行", "Apply")                                                               \
        X(M_DONE, "已完成", "Done")                                                                \
        X(M_ELIGIBLE, "可清理的记录", "Items eligible")                                            \
        X(M_PURGED, "已清理的记录", "Items purged")                                                \
        X(M_KEPT, "保留的记录", "Items kept")                                                      \
        X(M_PASSWD, "设置账号密码", "Set an account's password")                                   \
        X(M_DISABLE, "停用账号", "Disable an account")                                             \
        X(M_NEW_PASSWORD, "新密码", "New password")                                                \
        X(K_EXPORTED, "导出", "exported")                                                          \
        X(K_COPIED, "复制", "copied")                                                              \
        X(K_VIEWED, "调阅", "viewed")                                                              \
        X(F_HOLD, "保全", "Hold")                                                                  \
        X(F_EVIDENCE, "证据（案件）", "Evidence (cases)")                                          \
        X(F_SECRET, "涉密", "Secret")                                                              \
        X(F_STAGE, "执法环节", "Stage")                                                            \
        X(F_EXPORTS, "导出光盘", "Exported on discs")                                              \
        X(F_LABELLED, "标注时间", "Labelled at")                                                   \
        X(F_LABEL_LATE, "逾期标注", "Labelled late")                                               \
        X(F_TIME_SOURCE, "录制时间来源", "Recording time from")                                    \
        X(F_CLOCK_SUSPECT, "记录仪时钟可疑", "Recorder clock suspect")                             \
        X(F_VERIFIED, "最近校验", "Last verified")                                                 \
        X(TS_CONTAINER, "文件元数据", "the file's metadata")                                       \
        X(TS_FILENAME, "文件名", "the file name")                                                  \
        X(TS_FILESYSTEM, "文件系统修改时间", "the filesystem's modification time")                 \
        X(I_OK, "完整", "intact")                                                                  \
        X(I_TRUNCATED, "文件不完整（截断）", "truncated")                                          \
        X(I_CORRUPT, "文件损坏", "corrupt")                                                        \
        X(I_NOT_MEDIA, "不是音视频文件", "not a media file")                                       \
        X(MF_CONTAINER, "封装格式", "Container")                                                   \
        X(MF_DURATION, "时长", "Duration")                                                         \
        X(MF_CREATED, "文件内录制时间", "Creation time in the file")                               \
        X(MF_NO_AUDIO, "无音频", "No audio")                                                       \
        X(MF_STREAM, "流", "Stream")                                                               \
        X(MF_REASON, "原因", "Reason")                                                             \
        X(MF_LOG, "解码日志", "Decoder log")                                                       \
        X(FIRST, "第一页", "First page")                                                           \
        X(O_MTIME, "文件修改时间", "File modified")                                                \
        X(O_SEEN, "发现时间", "Seen at")                                                           \
        X(N_BY, "填写人", "Written by")                                                            \
        X(N_TEXT, "内容", "Text")                                                                  \
        X(G_FOLDER, "目录", "Folder")                                                              \
        X(G_MISSING, "缺失的文件序号", "Missing file numbers")                                     \
        X(G_BETWEEN, "缺失位置（前后记录）", "Between items")                                      \
        X(G_EXPLAINED, "已说明", "explained")                                                      \
        X(G_UNEXPLAINED, "未说明", "not explained")

enum evd_msg {
#define EVD_MSG_ENUM(key, zh, en) EVD_MSG_##key,
        EVD_MSGS(EVD_MSG_ENUM)
#undef EVD_MSG_ENUM
                EVD_MSG_COUNT
};

/* The text of msg in lang (static). */
const char *evd_msg(enum evd_lang lang, enum evd_msg msg);

/* The language named by a cookie or query value ("en", "zh"; anything else: zh). */
enum evd_lang evd_msg_lang(const char *name);

#endif
