"""Qwen2.5-Coder fill-in-the-middle format, as data; and the FIM templates some clients fill in themselves
(`parse_client_template`, pure).

File level (PSM):  <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}
Repository level:  <|repo_name|>{name}\n<|file_sep|>{path}\n{content}\n ... <|file_sep|>{path}\n<FIM>

Marker ids are inserted directly into the token stream; user text is always tokenized with
special-token parsing off, so a literal "<|fim_prefix|>" in a file stays text.
"""

ENDOFTEXT = 151643
IM_START = 151644
IM_END = 151645
FIM_PREFIX = 151659
FIM_MIDDLE = 151660
FIM_SUFFIX = 151661
FIM_PAD = 151662
REPO_NAME = 151663
FILE_SEP = 151664

MARKER_TEXT = {
    ENDOFTEXT: "<|endoftext|>",
    IM_START: "<|im_start|>",
    IM_END: "<|im_end|>",
    FIM_PREFIX: "<|fim_prefix|>",
    FIM_MIDDLE: "<|fim_middle|>",
    FIM_SUFFIX: "<|fim_suffix|>",
    FIM_PAD: "<|fim_pad|>",
    REPO_NAME: "<|repo_name|>",
    FILE_SEP: "<|file_sep|>",
}

# Generation ends at any of these (Qwen's documented FIM stop set, plus the chat end marker that the
# Instruct weights emit).
STOP_TOKEN_IDS = frozenset(
    {ENDOFTEXT, IM_END, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD, REPO_NAME, FILE_SEP}
)

# FIM templates that clients fill in themselves and send as one raw prompt (Continue's OpenAI-compatible
# provider, say): (prefix marker, suffix marker, middle marker), in prefix-suffix-middle order. Qwen's own,
# StarCoder's and Code Llama's (whose markers come with spaces: "<PRE> {prefix} <SUF>{suffix} <MID>").
CLIENT_TEMPLATES = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<PRE> ", " <SUF>", " <MID>"),
    ("<PRE>", "<SUF>", "<MID>"),
)
# what may come before a template's prefix marker: a repo-level header (Qwen's, StarCoder2's) or a file name
CLIENT_HEADERS = ("<|repo_name|>", "<|file_sep|>", "<repo_name>", "<file_sep>", "<filename>")


def parse_client_template(prompt: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a raw prompt that is a whole PSM template of CLIENT_TEMPLATES (a repo-level
    header before it is dropped; text after the middle marker is the typed start of the middle and joins
    the prefix); None when the prompt is not one, e.g. code that only mentions a marker."""
    for prefix_marker, suffix_marker, middle_marker in CLIENT_TEMPLATES:
        start = prompt.find(prefix_marker)
        if start < 0 or prompt.count(prefix_marker) != 1:
            continue
        head = prompt[:start]
        rest = prompt[start + len(prefix_marker) :]
        if rest.count(suffix_marker) != 1 or rest.count(middle_marker) != 1:
            continue
        prefix, _, after = rest.partition(suffix_marker)
        suffix, _, middle = after.partition(middle_marker)
        header_only = not head.strip() or head.lstrip().startswith(CLIENT_HEADERS)
        if middle_marker in prefix or not header_only:
            continue
        return prefix + middle, suffix
    return None
