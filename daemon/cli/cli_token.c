/* cli_token.c - `migrated token add|list|remove`: edits the API token file (the one --token-file
 * or token_file names, else MD_DEFAULT_TOKEN_FILE) through tokens.h. Prints a new secret once,
 * as the last line of stdout, and never a stored one. Not for reloading a daemon: it says how. */
#include "cli_internal.h"
#include "migrated/cli.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *token_path(const struct md_config *cfg)
{
	return cfg->token_file && *cfg->token_file ? cfg->token_file : MD_DEFAULT_TOKEN_FILE;
}

static int token_add(const char *path, const char *name, const char *role_name, bool json)
{
	struct md_error err = {0};
	char secret[2 * MD_TOKEN_SECRET_BYTES + 1];
	enum md_role role;

	if (md_role_parse(role_name, &role, &err) < 0 ||
	    md_tokens_add(path, name, role, secret, sizeof secret, &err) < 0)
		return cli_fail(json, &err);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "role", md_role_name(role), "token_file",
				      path, "secret", secret);
		cli_print_json(o);
	} else {
		printf("Added the %s token %s to %s.\n", md_role_name(role), name, path);
		printf("A running daemon uses it after a reload: systemctl reload migrated (or kill -HUP its pid).\n");
		printf("Its secret, shown only this once (clients send Authorization: Bearer SECRET):\n");
		printf("%s\n", secret);
	}
	memset(secret, 0, sizeof secret);
	return MD_EXIT_OK;
}

static int token_list(const char *path, bool json)
{
	struct md_error err = {0};
	struct md_token_entry *items = NULL;
	size_t n = 0;

	if (md_tokens_list(path, &items, &n, &err) < 0)
		return cli_fail(json, &err);
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s}", "name", items[i].name, "role",
							     md_role_name(items[i].role)));
		cli_print_json(json_pack("{s:s, s:o}", "token_file", path, "tokens", arr));
	} else if (n == 0) {
		printf("No tokens in %s (add one: migrated token add NAME read|deploy|admin).\n", path);
	} else {
		printf("%-32s %s\n", "NAME", "ROLE");
		for (size_t i = 0; i < n; i++)
			printf("%-32s %s\n", items[i].name, md_role_name(items[i].role));
	}
	free(items);
	return MD_EXIT_OK;
}

static int token_remove(const char *path, const char *name, bool json)
{
	struct md_error err = {0};

	if (md_tokens_remove(path, name, &err) < 0)
		return cli_fail(json, &err);
	if (json)
		cli_print_json(json_pack("{s:s, s:s, s:b}", "name", name, "token_file", path, "removed", 1));
	else
		printf("Removed the token %s from %s.\nA running daemon refuses it after a reload: systemctl reload "
		       "migrated (or kill -HUP its pid).\n",
		       name, path);
	return MD_EXIT_OK;
}

int cli_token(const struct md_config *cfg, bool json, const char *sub, char *const args[], size_t nargs)
{
	const char *path = token_path(cfg);
	struct md_error err = {0};

	if (strcmp(sub, "add") == 0 && nargs == 2)
		return token_add(path, args[0], args[1], json);
	if (strcmp(sub, "list") == 0 && nargs == 0)
		return token_list(path, json);
	if (strcmp(sub, "remove") == 0 && nargs == 1)
		return token_remove(path, args[0], json);
	md_error_hint(&err,
		      "migrated token add NAME read|deploy|admin, migrated token list, migrated token remove NAME");
	md_error_set(&err, MD_E_USAGE, "token %s takes %s", sub,
		     strcmp(sub, "add") == 0      ? "a NAME and a ROLE"
		     : strcmp(sub, "remove") == 0 ? "a NAME"
		     : strcmp(sub, "list") == 0   ? "no arguments"
						  : "add, list or remove");
	return cli_fail(json, &err);
}
