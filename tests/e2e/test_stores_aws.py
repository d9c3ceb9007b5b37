async def test_irsa_needs_the_operators_audience(
    kube: KubeClient, namespace: str, moto: MotoServer
) -> None:
    auth = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "aws-reader"}}}
    async with sk.controller(kube, namespace):  # --token-audiences left at its default, vault
        await sk.create_service_account(kube, namespace, "aws-reader")
        await ak.apply_store(kube, namespace, "irsa", moto, SM, auth=auth)
        store = await sk.wait_store(kube, namespace, "irsa", "False")
    reason, message = sk.reason_and_message(store, "Ready")
    assert reason == "InvalidConfig", store["status"]
    assert "audience 'sts.amazonaws.com' is not allowed by the operator" in message
