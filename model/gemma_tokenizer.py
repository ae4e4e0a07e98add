"""The synthetic Gemma-style tokenizer of the tiny and synthetic Gemma folders: Gemma's fixed special ids,
byte fallback, and BPE pieces learned from a fixed prompt-like corpus (no download, deterministic).

Imports tokenizers only.
"""

import json

# The synthetic tokenizer: Gemma's fixed ids first (image tokens at 5..7 instead of 255999.. so that they
# exist in a small vocabulary), then byte-fallback tokens, then BPE pieces learned from a fixed corpus.
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>",
             "<image_soft_token>")
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
BOI_ID, EOI_ID, IMAGE_ID = 5, 6, 7
TOKENIZER_VOCAB = 1024
_CORPUS_WORDS = (
    "the a an of in on with and while as camera slowly pans tilts zooms toward away from close wide shot "
    "angle static handheld drone aerial view cinematic soft warm cold golden blue red green light shadow "
    "morning evening night dawn dusk sunset rain snow fog wind storm sea ocean river forest mountain city "
    "street room hall kitchen window door car train bird dog cat horse fox woman man child old young she "
    "he they says whispers laughs sings shouts walks runs turns looks smiles hello there music plays drums "
    "piano guitar footsteps echo waves crash leaves rustle thunder rolls background quiet loud voice"
).split()


def _corpus(lines: int = 300) -> list[str]:
    """Fixed pseudo-random prompt-like sentences (a linear congruential sequence: no global RNG)."""
    out, state = [], 2024
    for _ in range(lines):
        words = []
        for _ in range(5 + state % 11):
            state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
            words.append(_CORPUS_WORDS[(state >> 33) % len(_CORPUS_WORDS)])
        out.append(" ".join(words) + ".")
    return out


def build_tokenizer():
    """A Gemma-style BPE tokenizer (spaces as '▁', byte fallback, `<bos>` prepended) of TOKENIZER_VOCAB ids."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    fixed = list(SPECIALS) + [f"<0x{i:02X}>" for i in range(256)]
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Replace(" ", "▁")
    learner.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")  # merges stay inside words
    learner.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB - len(fixed), show_progress=False))
    learned = json.loads(learner.to_str())["model"]
    vocab = {token: i for i, token in enumerate(fixed)}
    for token, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    vocab |= {f"<unused{i}>": len(vocab) + i for i in range(TOKENIZER_VOCAB - len(vocab))}
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                                     byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", BOS_ID)])
    return tokenizer
