/*
 * The peer row of the load report: Eclipse Paho C's MQTTAsync publishing N messages with its default file persistence
 * (which writes each message to a file and never fsyncs) and a fixed number in flight, as a StoreForward user might
 * otherwise do. Prints the rate in messages per second on stdout; exits non-zero on any failure.
 *
 *   paho_publisher HOST:PORT COUNT QOS IN_FLIGHT PAYLOAD_BYTES PERSISTENCE_DIR
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int connected, connect_failed, completed, failed;

/* Every callback counts one event and wakes the main thread. */
static void count_event(int *counter)
{
    pthread_mutex_lock(&lock);
    (*counter)++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void on_connect(void *context, MQTTAsync_successData *response)
{
    (void)context, (void)response;
    count_event(&connected);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response)
{
    (void)context, (void)response;
    count_event(&connect_failed);
}

static void on_sent(void *context, MQTTAsync_successData *response)
{
    (void)context, (void)response;
    count_event(&completed);
}

static void on_send_failure(void *context, MQTTAsync_failureData *response)
{
    (void)context, (void)response;
    count_event(&failed);
}

static double seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 7)
    {
        fprintf(stderr, "usage: %s HOST:PORT COUNT QOS IN_FLIGHT PAYLOAD_BYTES PERSISTENCE_DIR\n", argv[0]);
        return 2;
    }

    char uri[256], client_id[64];
    snprintf(uri, sizeof uri, "tcp://%s", argv[1]);
    snprintf(client_id, sizeof client_id, "sf-bench-paho-%d", (int)getpid());
    int count = atoi(argv[2]), qos = atoi(argv[3]), in_flight = atoi(argv[4]), payload_bytes = atoi(argv[5]);
    char *payload = calloc(payload_bytes > 0 ? payload_bytes : 1, 1);

    MQTTAsync client;
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.maxBufferedMessages = in_flight;
    if (MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_DEFAULT, argv[6], &create) != MQTTASYNC_SUCCESS)
        return 1;

    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
    options.cleansession = 1;
    options.maxInflight = in_flight;
    options.onSuccess = on_connect;
    options.onFailure = on_connect_failure;
    if (MQTTAsync_connect(client, &options) != MQTTASYNC_SUCCESS)
        return 1;

    pthread_mutex_lock(&lock);
    while (!connected && !connect_failed)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    if (connect_failed)
    {
        fprintf(stderr, "paho: connect to %s failed\n", uri);
        return 1;
    }

    double start = seconds();
    for (int sent = 0; sent < count; sent++)
    {
        pthread_mutex_lock(&lock);
        while (sent - completed - failed >= in_flight)
            pthread_cond_wait(&changed, &lock);
        pthread_mutex_unlock(&lock);

        MQTTAsync_message message = MQTTAsync_message_initializer;
        message.payload = payload;
        message.payloadlen = payload_bytes;
        message.qos = qos;
        MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
        response.onSuccess = on_sent;
        response.onFailure = on_send_failure;
        int rc;
        while ((rc = MQTTAsync_sendMessage(client, "bench/paho", &message, &response)) == MQTTASYNC_MAX_MESSAGES_INFLIGHT)
        {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
        }
        if (rc != MQTTASYNC_SUCCESS)
        {
            fprintf(stderr, "paho: send failed with %d\n", rc);
            return 1;
        }
    }

    pthread_mutex_lock(&lock);
    while (completed + failed < count)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    double elapsed = seconds() - start;

    MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnect(client, &disconnect);
    MQTTAsync_destroy(&client);
    if (failed > 0)
    {
        fprintf(stderr, "paho: %d publishes failed\n", failed);
        return 1;
    }

    printf("%.0f\n", count / elapsed);
    return 0;
}
