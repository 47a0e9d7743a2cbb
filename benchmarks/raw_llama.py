"""Raw llama-cpp-python, for benchmarks/local_model.py: one answer per line read on stdin.

    python benchmarks/raw_llama.py MODEL.gguf N_THREADS MAX_TOKENS [LOGITS_ALL TOP_LOGPROBS]

Run by whichever interpreter holds the build to measure (the portable one, or a
native build in another virtual environment), so it imports nothing from the app.
Prints `ready`, then for each input line the tokens/s of one streamed answer, its
token count and the process's resident memory in MB. LOGITS_ALL=1 keeps the logits
of every token (what token probabilities need); TOP_LOGPROBS>0 asks for them.
"""

import os
import sys
import time

from llama_cpp import Llama

PROMPT = "Write a short story about a lighthouse keeper."


def main() -> None:
    path, threads, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    logits_all, top = (sys.argv[4] == "1", int(sys.argv[5])) if len(sys.argv) > 5 else (False, 0)
    llama = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=os.cpu_count(), verbose=False,
                  logits_all=logits_all)
    probabilities = {"logprobs": True, "top_logprobs": top} if top else {}
    print("ready", flush=True)
    for _ in sys.stdin:
        times = []
        for part in llama.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT}], stream=True,
            temperature=0.7, max_tokens=max_tokens, repeat_penalty=1.1, seed=42, **probabilities,
        ):
            if part["choices"][0]["delta"].get("content"):
                times.append(time.perf_counter())
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        print(f"{rate:.3f} {len(times)} {resident_mb():.0f}", flush=True)


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


if __name__ == "__main__":
    main()
