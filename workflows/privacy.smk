# Privacy attacks and audits (logic/papers/{secret_sharer,privacy_auditing,neural_phishing}.yaml).
# Rules only wire entry points: code/arx/experiments/privacy.py; each trains its own tiny models.

rule privacy_exposure:
    output: arx_metrics("privacy_exposure", paper="privacy")
    shell:  arx_run("privacy_exposure", paper="privacy")

rule privacy_mia:
    output: arx_metrics("privacy_mia", paper="privacy")
    shell:  arx_run("privacy_mia", paper="privacy")

rule privacy_canaries:
    output: arx_metrics("privacy_canaries", paper="privacy")
    shell:  arx_run("privacy_canaries", paper="privacy")

rule privacy_dp_audit:
    output: arx_metrics("privacy_dp_audit", paper="privacy")
    shell:  arx_run("privacy_dp_audit", paper="privacy")

rule privacy_phishing:
    output: arx_metrics("privacy_phishing", paper="privacy")
    shell:  arx_run("privacy_phishing", paper="privacy")
