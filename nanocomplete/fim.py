"""Qwen2.5-Coder fill-in-the-middle format, as data.

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
