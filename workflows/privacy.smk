# Privacy attacks and audits (logic/papers/{secret_sharer,privacy_auditing,neural_phishing}.yaml).
# Rules only wire entry points: code/arx/experiments/privacy.py; each trains its own tiny models.

rule privacy_exposure:
    output: arx_metrics("privacy_exposure", paper="privacy")
    threads: arx_threads("privacy_exposure")
    resources: **arx_resources("privacy_exposure")
    shell:  arx_run("privacy_exposure", paper="privacy")

rule privacy_mia:
    output: arx_metrics("privacy_mia", paper="privacy")
    threads: arx_threads("privacy_mia")
    resources: **arx_resources("privacy_mia")
    shell:  arx_run("privacy_mia", paper="privacy")

rule privacy_canaries:
    output: arx_metrics("privacy_canaries", paper="privacy")
    threads: arx_threads("privacy_canaries")
    resources: **arx_resources("privacy_canaries")
    shell:  arx_run("privacy_canaries", paper="privacy")

rule privacy_dp_audit:
    output: arx_metrics("privacy_dp_audit", paper="privacy")
    threads: arx_threads("privacy_dp_audit")
    resources: **arx_resources("privacy_dp_audit")
    shell:  arx_run("privacy_dp_audit", paper="privacy")

rule privacy_phishing:
    output: arx_metrics("privacy_phishing", paper="privacy")
    threads: arx_threads("privacy_phishing")
    resources: **arx_resources("privacy_phishing")
    shell:  arx_run("privacy_phishing", paper="privacy")

# Pretrained scale: SmolLM2 fine-tuned on synthetic members and canaries (reads the pretrained_model rule's model).
rule pretrained_privacy:
    input:  arx_inputs("pretrained_privacy", paper="privacy")
    output: arx_metrics("pretrained_privacy", paper="privacy")
    threads: arx_threads("pretrained_privacy")
    resources: **arx_resources("pretrained_privacy")
    shell:  arx_run("pretrained_privacy", paper="privacy")
