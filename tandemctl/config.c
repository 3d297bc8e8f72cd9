/* config.c - tandemctl config check|show. The file was loaded by main
 * (a bad file already exited 78 there with FILE:LINE: reason). */
#include <stdio.h>

#include "buf.h"
#include "tandemctl-private.h"

int ctl_config_check(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	int rc;

	if ((rc = ctl_parse(argc, argv, 0, 0, false, "config check", &a)))
		return rc;
	printf("%s: ok\n", c->cfg.path);
	return 0;
}

int ctl_config_show(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct buf out = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 0, 0, false, "config show", &a)))
		return rc;
	config_dump(&c->cfg, &out);
	if (out.len)
		fwrite(out.data, 1, out.len, stdout);
	buf_release(&out);
	return 0;
}
