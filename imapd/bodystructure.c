/* bodystructure.c - BODY / BODYSTRUCTURE (RFC 9051 7.5.2, RFC 3501 7.4.2).
 *
 * body-type-basic = media-basic SP body-fields
 * body-type-msg   = media-message SP body-fields SP envelope SP body SP
 *                   body-fld-lines
 * body-type-text  = media-text SP body-fields SP body-fld-lines
 * body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
 *                   body-fld-enc SP body-fld-octets
 * body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
 *                   [SP body-fld-loc *(SP body-extension)]]]
 * body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
 *                   [SP body-fld-loc *(SP body-extension)]]]
 * body-fld-dsp    = "(" string SP body-fld-param ")" / nil
 * body-fld-lang   = nstring / "(" string *(SP string) ")"
 */
#include "bodystructure.h"
#include "envelope.h"
#include "write.h"

#include <string.h>
#include <strings.h>

static void w_str(struct buf *out, const char *s, bool utf8)
{
	if (utf8)
		imap_w_string_utf8(out, s, strlen(s));
	else
		imap_w_string(out, s, strlen(s));
}

static void w_nstr(struct buf *out, const char *s, bool utf8)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		w_str(out, s, utf8);
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil.
 * add_charset: a text part without charset gets ("charset" "us-ascii"). */
static void w_params(struct buf *out, const struct mime_param *v, size_t n,
		     bool add_charset, bool utf8)
{
	if (add_charset && mime_param_get(v, n, "charset") != NULL)
		add_charset = false;
	if (n == 0 && !add_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_c(out, '(');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_c(out, ' ');
		w_str(out, v[i].name, utf8);
		buf_append_c(out, ' ');
		w_str(out, v[i].value, utf8);
	}
	if (add_charset)
		buf_append_str(out, n > 0 ? " \"charset\" \"us-ascii\""
					  : "\"charset\" \"us-ascii\"");
	buf_append_c(out, ')');
}

/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void w_ext_common(struct buf *out, const struct mime_part *p,
			 bool utf8)
{
	buf_append_c(out, ' ');
	if (p->disposition == NULL) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_c(out, '(');
		w_str(out, p->disposition, utf8);
		buf_append_c(out, ' ');
		w_params(out, p->disp_params, p->ndisp_params, false, utf8);
		buf_append_c(out, ')');
	}
	buf_append_c(out, ' ');
	if (p->nlanguage == 0) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_c(out, '(');
		for (size_t i = 0; i < p->nlanguage; i++) {
			if (i > 0)
				buf_append_c(out, ' ');
			w_str(out, p->language[i], utf8);
		}
		buf_append_c(out, ')');
	}
	buf_append_c(out, ' ');
	w_nstr(out, p->location, utf8);
}

/* What Dovecot writes for a multipart without body parts. */
static void w_empty_part(struct buf *out, bool extended)
{
	buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			    "NIL NIL \"7bit\" 0 0");
	if (extended)
		buf_append_str(out, " NIL NIL NIL NIL");
	buf_append_c(out, ')');
}

static void w_part(struct buf *out, const struct mime_part *p, bool extended,
		   bool utf8);

static void w_multipart(struct buf *out, const struct mime_part *p,
			bool extended, bool utf8)
{
	if (p->children == NULL)
		w_empty_part(out, extended);
	for (const struct mime_part *c = p->children; c; c = c->next)
		w_part(out, c, extended, utf8);
	buf_append_c(out, ' ');
	w_str(out, p->subtype, utf8);
	if (!extended)
		return;
	buf_append_c(out, ' ');
	w_params(out, p->params, p->nparams, false, utf8);
	w_ext_common(out, p, utf8);
}

static void w_leaf(struct buf *out, const struct mime_part *p, bool extended,
		   bool utf8)
{
	bool text = strcasecmp(p->type, "text") == 0;

	if (p->flags & MIME_PART_MESSAGE) {
		/* Dovecot writes this type in lower case */
		buf_append_str(out, "\"message\" \"rfc822\"");
	} else {
		w_str(out, p->type, utf8);
		buf_append_c(out, ' ');
		w_str(out, p->subtype, utf8);
	}
	buf_append_c(out, ' ');
	w_params(out, p->params, p->nparams, text, utf8);
	buf_append_c(out, ' ');
	w_nstr(out, p->id, utf8);
	buf_append_c(out, ' ');
	w_nstr(out, p->description, utf8);
	buf_append_c(out, ' ');
	w_str(out, p->encoding != NULL ? p->encoding : "7bit", utf8);
	buf_printf(out, " %llu", (unsigned long long)p->body_vsize);
	if (text) {
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	} else if ((p->flags & MIME_PART_MESSAGE) && p->children != NULL) {
		buf_append_c(out, ' ');
		imap_envelope_write(out, p->children, utf8);
		buf_append_c(out, ' ');
		w_part(out, p->children, extended, utf8);
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	}
	if (!extended)
		return;
	buf_append_c(out, ' ');
	w_nstr(out, p->md5, utf8);
	w_ext_common(out, p, utf8);
}

static void w_part(struct buf *out, const struct mime_part *p, bool extended,
		   bool utf8)
{
	buf_append_c(out, '(');
	if (p->flags & MIME_PART_MULTIPART)
		w_multipart(out, p, extended, utf8);
	else
		w_leaf(out, p, extended, utf8);
	buf_append_c(out, ')');
}

void imap_bodystructure_write(struct buf *out, const struct mime_part *part,
			      bool extended, bool utf8)
{
	/* The root of a message: its body structure is that of the
	 * message body, i.e. the root part itself. The child of a
	 * message/rfc822 part is written the same way. */
	w_part(out, part, extended, utf8);
}
